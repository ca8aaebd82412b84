import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { describeLedgerContract } from '../contract/ledger.contract.ts';
import { aws, clients, uniqueName } from './support.ts';

describeLedgerContract('S3Ledger (LocalStack S3, conditional writes)', async () => {
  const bucket = uniqueName('ledger-contract');
  await clients().s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return new S3Ledger({ bucket, aws: aws() });
});
