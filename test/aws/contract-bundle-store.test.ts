import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { describeBundleStoreContract } from '../contract/bundle-store.contract.ts';
import { aws, clients, uniqueName } from './support.ts';

describeBundleStoreContract('S3BundleStore (LocalStack S3)', async () => {
  const { s3 } = clients();
  const bucket = uniqueName('bundles-contract');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    store: new S3BundleStore({ bucket, aws: aws() }),
    tamper: async (key, bytes) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
    },
  };
});
