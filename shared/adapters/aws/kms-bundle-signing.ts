/**
 * Bundle signing with a KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY): the deployed dispatch and
 * rollback sign through KMS (the private key never leaves it); agents fetch the public key once
 * (GetPublicKey) and verify locally, so a verification costs no KMS call.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import type { AwsSettings } from '../../config/env.ts';
import type { BundleSignature, BundleSigner, BundleVerifier } from '../../ports/index.ts';
import { bundleMessage, keyIdOf, PublicKeyVerifier } from '../bundle-signature.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

export interface KmsBundleKeyOptions {
  /**
   * The key's ARN, id or alias (`alias/sluice-bundle-signing`, or its ARN from another account).
   * During a key rotation, several, comma-separated (SLUICE_SIGNING_KEY): the first signs, every
   * one verifies (docs/provenance.md, "Rotating the bundle-signing key").
   */
  readonly keyId: string;
  readonly client?: KMSClient;
  readonly aws?: AwsSettings;
  /**
   * Verifier: a signature by a key it does not know re-reads the public keys (an alias moved to a
   * new key), at most this often, so forged key ids cannot drive KMS calls. @default 60000
   */
  readonly refreshMs?: number;
}

/** The keys SLUICE_SIGNING_KEY names: one, or several during a rotation. */
export const signingKeyIds = (value: string): string[] =>
  value
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');

const publicKeyOf = async (client: KMSClient, keyId: string): Promise<KeyObject> => {
  try {
    const out = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
    return createPublicKey({ key: Buffer.from(out.PublicKey!), format: 'der', type: 'spki' });
  } catch (error) {
    throw translateAwsError(error, `KMS signing key ${keyId}`);
  }
};

/**
 * Signs `sluice-bundle:v1:<digest>` with ECDSA_SHA_256; the key id is that of the public key, as
 * agents compute it, of the key KMS actually signed with (an alias may have moved since the last).
 */
export class KmsBundleSigner implements BundleSigner {
  readonly #keyId: string;
  readonly #client: KMSClient;
  readonly #publicKeyIds = new Map<string, Promise<string>>();

  constructor(options: KmsBundleKeyOptions) {
    this.#keyId = signingKeyIds(options.keyId)[0] ?? options.keyId;
    this.#client = options.client ?? new KMSClient(clientConfig(options.aws));
  }

  async sign(digest: string): Promise<BundleSignature> {
    let signature: Uint8Array | undefined;
    let signedWith: string | undefined;
    try {
      ({ Signature: signature, KeyId: signedWith } = await this.#client.send(
        new SignCommand({
          KeyId: this.#keyId,
          Message: bundleMessage(digest),
          MessageType: 'RAW',
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      ));
    } catch (error) {
      throw translateAwsError(error, `KMS signing key ${this.#keyId}`);
    }
    const key = signedWith ?? this.#keyId;
    let publicKeyId = this.#publicKeyIds.get(key);
    if (!publicKeyId) {
      publicKeyId = publicKeyOf(this.#client, key).then(keyIdOf);
      this.#publicKeyIds.set(key, publicKeyId);
      publicKeyId.catch(() => this.#publicKeyIds.delete(key));
    }
    return {
      keyId: await publicKeyId,
      algorithm: 'ecdsa-p256-sha256',
      value: Buffer.from(signature!).toString('base64'),
    };
  }
}

/**
 * Trusts the public halves of the KMS keys named (one, or old and new during a rotation), fetched
 * once; a failed fetch is retried on the next bundle, and a signature by an unknown key re-reads
 * them (at most every `refreshMs`), so an alias moved to a new key is followed without a restart.
 */
export class KmsBundleVerifier implements BundleVerifier {
  readonly #keyIds: string[];
  readonly #client: KMSClient;
  readonly #refreshMs: number;
  #verifier: Promise<{ keys: PublicKeyVerifier; ids: Set<string>; at: number }> | undefined;

  constructor(options: KmsBundleKeyOptions) {
    this.#keyIds = signingKeyIds(options.keyId);
    this.#client = options.client ?? new KMSClient(clientConfig(options.aws));
    this.#refreshMs = options.refreshMs ?? 60_000;
  }

  #load() {
    const loading = Promise.all(this.#keyIds.map((id) => publicKeyOf(this.#client, id))).then((keys) => ({
      keys: new PublicKeyVerifier(keys),
      ids: new Set(keys.map(keyIdOf)),
      at: Date.now(),
    }));
    loading.catch(() => {
      if (this.#verifier === loading) this.#verifier = undefined;
    });
    this.#verifier = loading;
    return loading;
  }

  async verify(digest: string, signature: BundleSignature): Promise<boolean> {
    let current = await (this.#verifier ?? this.#load());
    if (!current.ids.has(signature.keyId) && Date.now() - current.at >= this.#refreshMs) {
      current = await this.#load();
    }
    return current.keys.verify(digest, signature);
  }
}
