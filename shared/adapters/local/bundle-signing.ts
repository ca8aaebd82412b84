import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BundleSignature, BundleSigner } from '../../ports/index.ts';
import { bundleMessage, keyIdOf, PublicKeyVerifier } from '../bundle-signature.ts';
import { writeFileAtomic } from './json-file.ts';

export { keyIdOf };

export class Ed25519Signer implements BundleSigner {
  private readonly privateKey: KeyObject;
  readonly keyId: string;

  constructor(privateKey: KeyObject) {
    this.privateKey = privateKey;
    this.keyId = keyIdOf(createPublicKey(privateKey));
  }

  async sign(digest: string): Promise<BundleSignature> {
    return {
      keyId: this.keyId,
      algorithm: 'ed25519',
      value: sign(null, bundleMessage(digest), this.privateKey).toString('base64'),
    };
  }
}

/** Trusts the given public keys (Ed25519 or KMS's ECDSA P-256); a signature by any other key does not verify. */
export class Ed25519Verifier extends PublicKeyVerifier {}

/**
 * An Ed25519 private key kept in `file` (PKCS#8 PEM, mode 0600), created on first use; `created`
 * runs once, after a new key is written (to write its public half beside it).
 */
export const workdirEd25519Key = async (
  file: string,
  created: (key: KeyObject) => Promise<void> = async () => undefined,
): Promise<KeyObject> => {
  try {
    return createPrivateKey(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const privateKey = generateKeyPairSync('ed25519').privateKey;
    await writeFileAtomic(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    await created(privateKey);
    return privateKey;
  }
};

/**
 * The local signing key of `sluice dev`: created once in `<dir>/bundle-signing.key` (0600), its
 * public half beside it for agents to trust.
 */
export const localSigningKey = async (
  dir: string,
): Promise<{ signer: Ed25519Signer; verifier: Ed25519Verifier }> => {
  const privateKey = await workdirEd25519Key(path.join(dir, 'bundle-signing.key'), (key) =>
    writeFileAtomic(
      path.join(dir, 'bundle-signing.pub'),
      createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string,
    ),
  );
  return {
    signer: new Ed25519Signer(privateKey),
    verifier: new Ed25519Verifier([createPublicKey(privateKey)]),
  };
};

/** A key that lives as long as the process: for pipelines whose bundles never outlive it (tests, benches). */
export const ephemeralSigningKey = (): { signer: Ed25519Signer; verifier: Ed25519Verifier } => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signer: new Ed25519Signer(privateKey), verifier: new Ed25519Verifier([publicKey]) };
};
