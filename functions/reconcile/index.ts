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
  readDeployRepos,
  readGitSettings,
  requireEnv,
  SLUICE_ENV,
} from '../../shared/config/env.ts';
import { trackedBranches } from '../../shared/core/reconcile.ts';
import { deployBranchList } from '../../shared/core/repos.ts';
import { createReconcileHandler } from './handler.ts';

const aws = readAwsSettings();
const git = readGitSettings();
const bucket = requireEnv(SLUICE_ENV.bucket);
const history = new S3EventRecord({ bucket, aws });
// The deployment config's repos and deploy branches: what is polled, and where it is cloned from.
const deploy = deployBranchList(readDeployRepos());

export const handler = createReconcileHandler({
  git: createGitSource({ cacheDir: git.cacheDir, auth: git.auth(new SecretsManagerStore({ aws })) }),
  ledger: new S3Ledger({ bucket, aws }),
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  clock: systemClock,
  newTraceId: randomUUID,
  tracked: async (repo) => trackedBranches(deploy, (await history.newest()).branches, repo),
});
