/**
 * The agent's KmsDecrypter on AWS: KMS Decrypt of a SOPS data key with the encryption context
 * SOPS recorded. A key ARN names its region, so a file encrypted in another region still opens.
 * A recorded `role` is not assumed: the agent's own role needs kms:Decrypt on the key.
 */
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import type { AwsSettings } from '../../config/env.ts';
import type { KmsDecrypter } from '../../ports/index.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

export class KmsSopsDecrypter implements KmsDecrypter {
  readonly #aws: AwsSettings | undefined;
  readonly #clients = new Map<string, KMSClient>();

  constructor(options: { aws?: AwsSettings } = {}) {
    this.#aws = options.aws;
  }

  #client(keyArn: string): KMSClient {
    const region = keyArn.split(':')[3] || this.#aws?.region || '';
    let client = this.#clients.get(region);
    if (!client) {
      client = new KMSClient(clientConfig(region && this.#aws ? { ...this.#aws, region } : this.#aws));
      this.#clients.set(region, client);
    }
    return client;
  }

  async decrypt(input: Parameters<KmsDecrypter['decrypt']>[0]): Promise<Uint8Array> {
    try {
      const out = await this.#client(input.keyArn).send(
        new DecryptCommand({
          KeyId: input.keyArn,
          CiphertextBlob: input.ciphertext,
          ...(Object.keys(input.context).length ? { EncryptionContext: { ...input.context } } : {}),
        }),
      );
      return out.Plaintext ?? new Uint8Array();
    } catch (error) {
      throw translateAwsError(error, `KMS key ${input.keyArn} (SOPS data key)`);
    }
  }
}
