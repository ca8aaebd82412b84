import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { S3IdempotencyStore } from '../../shared/adapters/aws/s3-idempotency-store.ts';
import { describeIdempotencyContract } from '../contract/idempotency.contract.ts';
import { aws, clients, uniqueName } from './support.ts';

describeIdempotencyContract('S3IdempotencyStore (LocalStack S3, conditional writes)', async (now) => {
  const bucket = uniqueName('claims-contract');
  await clients().s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return new S3IdempotencyStore({ bucket, aws: aws(), now });
});
