/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { randomUUID } from 'node:crypto';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3EventRecord } from '../../shared/adapters/aws/s3-event-record.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import {
  readAwsSettings,
  readGitSettings,
  readRepoUrlMap,
  readRepoUrls,
  requireEnv,
  SLUICE_ENV,
} from '../../shared/config/env.ts';
import { trackedBranches } from '../../shared/core/reconcile.ts';
import { createReconcileHandler } from './handler.ts';

const aws = readAwsSettings();
const git = readGitSettings();
const bucket = requireEnv(SLUICE_ENV.bucket);
const history = new S3EventRecord({ bucket, aws });
const configured = Object.keys(readRepoUrlMap());
const urlOf = readRepoUrls();

export const handler = createReconcileHandler({
  git: createGitSource({ cacheDir: git.cacheDir, auth: git.auth(new SecretsManagerStore({ aws })) }),
  ledger: new S3Ledger({ bucket, aws }),
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  clock: systemClock,
  newTraceId: randomUUID,
  tracked: async (repo) => trackedBranches((await history.newest()).branches, configured, urlOf, repo),
});
