/** Small helpers for JSON documents in S3 guarded by ETags (optimistic concurrency). */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SluiceError } from '../../errors.ts';
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
