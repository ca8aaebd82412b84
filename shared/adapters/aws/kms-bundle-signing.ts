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
  /** The key's ARN, id or alias (`alias/sluice-bundle-signing`, or its ARN from another account). */
  readonly keyId: string;
  readonly client?: KMSClient;
  readonly aws?: AwsSettings;
}

const publicKeyOf = async (client: KMSClient, keyId: string): Promise<KeyObject> => {
  try {
    const out = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
    return createPublicKey({ key: Buffer.from(out.PublicKey!), format: 'der', type: 'spki' });
  } catch (error) {
    throw translateAwsError(error, `KMS signing key ${keyId}`);
  }
};

/** Signs `sluice-bundle:v1:<digest>` with ECDSA_SHA_256; the key id is that of the public key, as agents compute it. */
export class KmsBundleSigner implements BundleSigner {
  readonly #keyId: string;
  readonly #client: KMSClient;
  #publicKeyId: Promise<string> | undefined;

  constructor(options: KmsBundleKeyOptions) {
    this.#keyId = options.keyId;
    this.#client = options.client ?? new KMSClient(clientConfig(options.aws));
  }

  async sign(digest: string): Promise<BundleSignature> {
    this.#publicKeyId ??= publicKeyOf(this.#client, this.#keyId).then(keyIdOf);
    this.#publicKeyId.catch(() => {
      this.#publicKeyId = undefined;
    });
    let signature: Uint8Array | undefined;
    try {
      ({ Signature: signature } = await this.#client.send(
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
    return {
      keyId: await this.#publicKeyId,
      algorithm: 'ecdsa-p256-sha256',
      value: Buffer.from(signature!).toString('base64'),
    };
  }
}

/** Trusts the KMS key's public half, fetched once; a failed fetch is retried on the next bundle. */
export class KmsBundleVerifier implements BundleVerifier {
  readonly #keyId: string;
  readonly #client: KMSClient;
  #verifier: Promise<PublicKeyVerifier> | undefined;

  constructor(options: KmsBundleKeyOptions) {
    this.#keyId = options.keyId;
    this.#client = options.client ?? new KMSClient(clientConfig(options.aws));
  }

  async verify(digest: string, signature: BundleSignature): Promise<boolean> {
    this.#verifier ??= publicKeyOf(this.#client, this.#keyId).then((key) => new PublicKeyVerifier([key]));
    this.#verifier.catch(() => {
      this.#verifier = undefined;
    });
    return (await this.#verifier).verify(digest, signature);
  }
}
