import { createHash } from 'node:crypto';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings } from '../../config/env.ts';
import { BadInputError } from '../../errors.ts';
import type { IdempotencyStore } from '../../ports/index.ts';
import { s3ClientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';
import { readJson, writeJsonIf } from './s3-objects.ts';

export interface S3IdempotencyStoreOptions {
  readonly bucket: string;
  /** @default 'idempotency/' — give it a lifecycle expiration rule so old claims are deleted. */
  readonly prefix?: string;
  readonly client?: S3Client;
  readonly aws?: AwsSettings;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

interface Claim {
  readonly key: string;
  readonly expiresAt: number;
}

/**
 * A claim is an object created with If-None-Match: *. An expired claim is taken over with
 * If-Match on its ETag, so of two racing claimers exactly one wins.
 */
export class S3IdempotencyStore implements IdempotencyStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #now: () => number;

  constructor(options: S3IdempotencyStoreOptions) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? 'idempotency/';
    this.#client = options.client ?? new S3Client(s3ClientConfig(options.aws));
    this.#now = options.now ?? Date.now;
  }

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    if (!(ttlSeconds > 0)) {
      throw new BadInputError(
        'ttlSeconds',
        `${ttlSeconds} is not positive`,
        'pass a TTL in seconds, e.g. 86400',
      );
    }
    const objectKey = this.#objectKey(key);
    const claim: Claim = { key, expiresAt: this.#now() + ttlSeconds * 1000 };
    if (await writeJsonIf(this.#client, this.#bucket, objectKey, claim, undefined)) return true;
    const existing = await readJson<Claim>(this.#client, this.#bucket, objectKey);
    if (existing === undefined) {
      // Deleted (lifecycle) between our two calls: try once more from scratch.
      return writeJsonIf(this.#client, this.#bucket, objectKey, claim, undefined);
    }
    if (existing.value.expiresAt > this.#now()) return false;
    return writeJsonIf(this.#client, this.#bucket, objectKey, claim, existing.etag);
  }

  async release(key: string): Promise<void> {
    const objectKey = this.#objectKey(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
    } catch (error) {
      throw translateAwsError(error, `idempotency claim ${objectKey} in bucket ${this.#bucket}`);
    }
  }

  /** Hashed: keys (delivery ids, URLs) may be long or hold characters S3 keys handle badly. */
  #objectKey(key: string): string {
    return `${this.#prefix}${createHash('sha256').update(key).digest('hex')}.json`;
  }
}
