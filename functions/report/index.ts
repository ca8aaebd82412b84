/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { GithubStatusProvider } from '../../shared/adapters/github/status.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import {
  readAgentQueueUrls,
  readAwsSettings,
  readGitSettings,
  requireEnv,
  SLUICE_ENV,
} from '../../shared/config/env.ts';
import { ownersFromAgentQueues } from '../../shared/core/report.ts';
import { createReportHandler } from './handler.ts';

const aws = readAwsSettings();
// Commit statuses on GitHub when the Git secret holds a token (read once per cold start); an
// anonymous secret (`{}`) leaves them off and only the ledger is written.
const credentials = await readGitSettings().auth(new SecretsManagerStore({ aws }))();

export const handler = createReportHandler({
  ledger: new S3Ledger({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
  clock: systemClock,
  // Outcomes are accepted only from the account whose regional stack serves the target.
  owners: ownersFromAgentQueues(readAgentQueueUrls()),
  ...(credentials ? { provider: new GithubStatusProvider({ token: credentials.password }) } : {}),
});
