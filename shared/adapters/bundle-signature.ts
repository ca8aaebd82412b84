/**
 * What a bundle signature is over, and how an agent checks one, whoever made it: the local
 * Ed25519 key of `sluice dev` or the KMS key (ECDSA P-256) of the deployed control plane.
 */
import { createHash, type KeyObject, verify } from 'node:crypto';
import type { BundleSignature, BundleVerifier } from '../ports/index.ts';

/** Domain separation: a bundle signature can never be mistaken for a signature over anything else. */
export const bundleMessage = (digest: string): Buffer => Buffer.from(`sluice-bundle:v1:${digest}`);

/** A key's id: the first 16 hex digits of the sha256 of its SubjectPublicKeyInfo (DER). */
export const keyIdOf = (publicKey: KeyObject): string =>
  createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);

/** The signature algorithm a public key makes, or undefined for a key Sluice does not sign with. */
const algorithmOf = (key: KeyObject): BundleSignature['algorithm'] | undefined => {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return 'ecdsa-p256-sha256';
  }
  return undefined;
};

/** Trusts the given public keys; a signature by any other key, or in another algorithm, does not verify. */
export class PublicKeyVerifier implements BundleVerifier {
  private readonly keys: Map<string, KeyObject>;

  constructor(publicKeys: readonly KeyObject[]) {
    this.keys = new Map(publicKeys.map((k) => [keyIdOf(k), k]));
  }

  async verify(digest: string, signature: BundleSignature): Promise<boolean> {
    const key = this.keys.get(signature.keyId);
    if (!key || algorithmOf(key) !== signature.algorithm) return false;
    const value = Buffer.from(signature.value, 'base64');
    try {
      return signature.algorithm === 'ed25519'
        ? verify(null, bundleMessage(digest), key, value)
        : verify('sha256', bundleMessage(digest), { key, dsaEncoding: 'der' }, value);
    } catch {
      return false;
    }
  }
}
