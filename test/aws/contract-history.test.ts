import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { S3EventRecord } from '../../shared/adapters/aws/s3-event-record.ts';
import { describeHistoryContract } from '../contract/history.contract.ts';
import { aws, clients, uniqueName } from './support.ts';

/** The deployed record: the record function stores each event as S3 objects per trace. */
describeHistoryContract('S3EventRecord (LocalStack S3)', async () => {
  const { s3 } = clients();
  const bucket = uniqueName('history-contract');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const record = new S3EventRecord({ bucket, aws: aws() });
  return {
    record: async (events) => {
      for (const e of events) await record.record(e);
    },
    history: record,
  };
});

/** The record function's batches (RECORD_BATCH): every event of a batch recorded at once, together. */
describeHistoryContract('S3EventRecord, events recorded as one batch (LocalStack S3)', async () => {
  const { s3 } = clients();
  const bucket = uniqueName('history-batch');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const record = new S3EventRecord({ bucket, aws: aws() });
  return {
    record: async (events) => {
      await Promise.all(events.map((e) => record.record(e)));
    },
    history: record,
  };
});
