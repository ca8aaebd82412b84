/** Small helpers for JSON documents in S3 guarded by ETags (optimistic concurrency). */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ConflictError, type SluiceError } from '../../errors.ts';
import { translateAwsError } from './errors.ts';

export interface Versioned<T> {
  readonly value: T;
  readonly etag: string;
}

/** The document and its ETag, or undefined when there is no such object. */
export const readJson = async <T>(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<Versioned<T> | undefined> => {
  try {
    const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = (await output.Body?.transformToString('utf8')) ?? '';
    return { value: JSON.parse(text) as T, etag: output.ETag ?? '' };
  } catch (error) {
    const translated = translateAwsError(error, `s3://${bucket}/${key}`, { key });
    if (translated.code === 'NOT_FOUND') return undefined;
    throw translated;
  }
};

/**
 * Writes the document only if the object is still at `etag` (or, with `etag` undefined, does
 * not exist yet). Returns false when another writer got there first.
 */
export const writeJsonIf = async (
  client: S3Client,
  bucket: string,
  key: string,
  value: unknown,
  etag: string | undefined,
): Promise<boolean> => {
  try {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(value),
        ContentType: 'application/json',
        ...(etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: etag }),
      }),
    );
    return true;
  } catch (error) {
    const translated: SluiceError = translateAwsError(error, `s3://${bucket}/${key}`, { key });
    // 412 and 409 both mean a concurrent writer won: the caller re-reads.
    if (translated.code === 'CONFLICT') return false;
    throw translated;
  }
};

/** Every key under `prefix`, across pages. */
export const listKeys = async (
  client: S3Client,
  bucket: string,
  prefix: string,
  what: string,
): Promise<string[]> => {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    try {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } catch (error) {
      throw translateAwsError(error, what);
    }
  } while (token !== undefined);
  return keys;
};

/** The documents at `keys` (16 reads at a time), skipping any deleted meanwhile. */
export const readAllJson = async <T>(
  client: S3Client,
  bucket: string,
  keys: readonly string[],
): Promise<T[]> => {
  const out: T[] = [];
  for (let start = 0; start < keys.length; start += 16) {
    const batch = await Promise.all(
      keys.slice(start, start + 16).map((key) => readJson<T>(client, bucket, key)),
    );
    for (const item of batch) if (item) out.push(item.value);
  }
  return out;
};

/**
 * Read-modify-write under the ETag: `next` gets the current document (undefined when absent) and
 * returns the one to store, or the same object to leave it. Retries a lost race with jitter.
 */
export const updateJson = async <T>(
  client: S3Client,
  bucket: string,
  key: string,
  next: (current: T | undefined) => T,
  attempts = 8,
): Promise<T> => {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const current = await readJson<T>(client, bucket, key);
    const value = next(current?.value);
    if (current && value === current.value) return value;
    if (await writeJsonIf(client, bucket, key, value, current?.etag)) return value;
    await new Promise((done) => setTimeout(done, Math.random() * 20 * attempt));
  }
  throw new ConflictError(`s3://${bucket}/${key}`, { attempts });
};
