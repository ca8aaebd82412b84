/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { readAwsSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { createReportHandler } from './handler.ts';

// No GitProvider adapter exists yet, so commit statuses are not posted from AWS (the ledger is).
export const handler = createReportHandler({
  ledger: new S3Ledger({ bucket: requireEnv(SLUICE_ENV.bucket), aws: readAwsSettings() }),
  clock: systemClock,
});
