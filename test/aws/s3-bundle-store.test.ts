import {
  CreateBucketCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { isSluiceError } from '../../shared/errors.ts';
import { aws, clients, uniqueName } from './support.ts';

const versionedBucket = async (): Promise<string> => {
  const { s3 } = clients();
  const bucket = uniqueName('bundles');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  // Versioned like the real bucket: every write, even an identical one, would leave a version.
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  return bucket;
};

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('S3BundleStore', () => {
  it('stores the same bytes once, under their sha256', async () => {
    // GIVEN a versioned bucket and a bundle
    const bucket = await versionedBucket();
    const store = new S3BundleStore({ bucket, aws: aws() });
    const content = bytes('[{"kind":"ConfigMap","metadata":{"name":"web"}}]');

    // WHEN it is put twice
    const first = await store.put(content, { objects: 1 });
    const second = await store.put(content, { objects: 1 });

    // THEN both calls name the same content-addressed object, and S3 holds one version of it
    expect(second).toEqual(first);
    expect(first.key).toMatch(/^bundles\/[0-9a-f]{64}\.json$/);
    expect(first.digest).toBe(`sha256:${first.key.slice('bundles/'.length, -'.json'.length)}`);
    expect(first.size).toBe(content.byteLength);
    const versions = await clients().s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    expect(versions.Versions?.map((version) => version.Key)).toEqual([first.key]);
    expect(await store.get(first)).toEqual(content);
  });

  it('refuses a bundle whose bytes were altered after it was written', async () => {
    // GIVEN a stored bundle
    const bucket = await versionedBucket();
    const store = new S3BundleStore({ bucket, aws: aws() });
    const ref = await store.put(bytes('[{"kind":"Deployment"}]'), { objects: 1 });

    // WHEN someone overwrites the object behind the store's back
    await clients().s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: ref.key, Body: '[{"kind":"Evil"}]' }),
    );

    // THEN reading it fails with DIGEST_MISMATCH naming both digests
    const error = await store.get(ref).catch((caught: unknown) => caught);
    expect(isSluiceError(error) && error.code).toBe('DIGEST_MISMATCH');
    expect((error as Error).message).toContain(ref.digest);
    expect(isSluiceError(error) && error.retryable).toBe(false);
  });

  it('reports a missing bundle as NOT_FOUND', async () => {
    // GIVEN an empty bucket
    const store = new S3BundleStore({ bucket: await versionedBucket(), aws: aws() });

    // WHEN a bundle that was never written is read
    const error = await store
      .get({ key: `bundles/${'0'.repeat(64)}.json`, digest: `sha256:${'0'.repeat(64)}` })
      .catch((caught: unknown) => caught);

    // THEN the error is NOT_FOUND
    expect(isSluiceError(error) && error.code).toBe('NOT_FOUND');
  });

  it('reports an unreachable endpoint as a retryable UNAVAILABLE', async () => {
    // GIVEN a store pointed at a port nothing listens on
    const store = new S3BundleStore({
      bucket: 'nope',
      aws: { region: aws().region, endpoint: 'http://127.0.0.1:9' },
    });

    // WHEN a bundle is written
    const error = await store.put(bytes('x'), { objects: 0 }).catch((caught: unknown) => caught);

    // THEN the error is UNAVAILABLE and retryable
    expect(isSluiceError(error) && error.code).toBe('UNAVAILABLE');
    expect(isSluiceError(error) && error.retryable).toBe(true);
  });
});
