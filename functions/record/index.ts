/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { S3EventRecord } from '../../shared/adapters/aws/s3-event-record.ts';
import { readAwsSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { createRecordHandler } from './handler.ts';

const aws = readAwsSettings();

export const handler = createRecordHandler({
  recorder: new S3EventRecord({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
});
