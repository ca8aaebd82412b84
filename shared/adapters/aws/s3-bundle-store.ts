import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings } from '../../config/env.ts';
import { SluiceError } from '../../errors.ts';
import type { BundleStore } from '../../ports/index.ts';
import type { BundleRef } from '../../schemas/events.ts';
import { s3ClientConfig } from './client-config.ts';
import { awsErrorName, awsHttpStatus, translateAwsError } from './errors.ts';

export interface S3BundleStoreOptions {
  readonly bucket: string;
  readonly client?: S3Client;
  readonly aws?: AwsSettings;
}

const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Content-addressed bundles: `bundles/<sha256 hex>.json`, written at most once. */
export class S3BundleStore implements BundleStore {
  readonly #client: S3Client;
  readonly #bucket: string;

  constructor(options: S3BundleStoreOptions) {
    this.#bucket = options.bucket;
    this.#client = options.client ?? new S3Client(s3ClientConfig(options.aws));
  }

  async put(content: Uint8Array, meta: { objects: number }): Promise<BundleRef> {
    const hex = sha256Hex(content);
    const key = `bundles/${hex}.json`;
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: content,
          ContentType: 'application/json',
          // S3 checks the bytes it received against this, so a corrupted upload is rejected.
          ChecksumSHA256: Buffer.from(hex, 'hex').toString('base64'),
          // Same key means same bytes: an object already there is the object we wanted.
          IfNoneMatch: '*',
          Metadata: { digest: `sha256:${hex}`, objects: String(meta.objects) },
        }),
      );
    } catch (error) {
      const existed = awsErrorName(error) === 'PreconditionFailed' || awsHttpStatus(error) === 412;
      if (!existed) throw translateAwsError(error, `bundle ${key} in bucket ${this.#bucket}`, { key });
    }
    return { key, digest: `sha256:${hex}`, size: content.byteLength, objects: meta.objects };
  }

  async get(ref: Pick<BundleRef, 'key' | 'digest'>): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      const output = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: ref.key }));
      if (output.Body === undefined) throw new Error('empty body');
      bytes = await output.Body.transformToByteArray();
    } catch (error) {
      throw translateAwsError(error, `bundle ${ref.key} in bucket ${this.#bucket}`, { key: ref.key });
    }
    const actual = `sha256:${sha256Hex(bytes)}`;
    if (actual !== ref.digest) {
      throw new SluiceError(
        'DIGEST_MISMATCH',
        `bundle ${ref.key} in bucket ${this.#bucket} has digest ${actual}, expected ${ref.digest}; it was altered after it was written. Fix: re-render the release so a fresh bundle is stored, and find out who can write to the bucket`,
        { data: { key: ref.key, bucket: this.#bucket, expected: ref.digest, actual } },
      );
    }
    return bytes;
  }
}
