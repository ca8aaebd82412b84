/** Lambda entry point: the reconcile stage on AWS adapters, built once per cold start. */
import { randomUUID } from 'node:crypto';
import { S3EventRecord } from '../../shared/adapters/aws/s3-event-record.ts';
import { readDeployRepos, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { aws, bus, clock, deadLetters, git, ledger } from '../commons/aws.ts';

export const handler = createPipeline({
  clock,
  bus: bus(),
  ledger: ledger(),
  git: git(),
  deadLetters: deadLetters(),
  newTraceId: randomUUID,
  // The deployment config's repos and deploy branches: what is polled, and where it is cloned from.
  repos: readDeployRepos(),
  history: new S3EventRecord({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
}).handler('reconcile');
