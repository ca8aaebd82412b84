/** Lambda entry point: the record stage on AWS adapters, built once per cold start. */
import { S3EventRecord } from '../../shared/adapters/aws/s3-event-record.ts';
import { requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { aws, bus, clock, deadLetters } from '../commons/aws.ts';

export const handler = createPipeline({
  clock,
  bus: bus(),
  deadLetters: deadLetters(),
  recorder: new S3EventRecord({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
}).handler('record');
