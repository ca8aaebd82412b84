/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { S3IdempotencyStore } from '../../shared/adapters/aws/s3-idempotency-store.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { agentQueueUrlFor, SqsAgentDispatcher } from '../../shared/adapters/aws/sqs-agent-dispatcher.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { createGitWriter } from '../../shared/adapters/git/git-writer.ts';
import { createGithubPullRequests } from '../../shared/adapters/github/pull-request.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import {
  readAgentQueueUrls,
  readAwsSettings,
  readGitSettings,
  readRepoUrls,
  requireEnv,
  SLUICE_ENV,
} from '../../shared/config/env.ts';
import { ConfigError } from '../../shared/errors.ts';
import type { PullRequestOpener } from '../../shared/ports/index.ts';
import { createRollbackHandler } from './handler.ts';

const aws = readAwsSettings();
const git = readGitSettings();
const bucket = requireEnv(SLUICE_ENV.bucket);
const secrets = new SecretsManagerStore({ aws });
const auth = git.auth(secrets);

/**
 * Review mode (`rollback.review`) opens the pull request on GitHub with the Git secret's token; a
 * secret without one makes the revert a `Revert Failed` that says so (the branch is pushed).
 */
const pullRequests: PullRequestOpener = {
  async openPullRequest(input) {
    if ((await auth()) === undefined) {
      throw new ConfigError(
        'secret',
        SLUICE_ENV.gitSecret,
        'holds no token, so no pull request can be opened',
        'store {"username": "x-access-token", "password": "<GitHub token>"} in the Git secret, or open the pull request by hand',
      );
    }
    const github = createGithubPullRequests({
      secrets,
      tokenRef: `aws-sm://${requireEnv(SLUICE_ENV.gitSecret)}#password`,
    });
    return github.openPullRequest(input);
  },
};

export const handler = createRollbackHandler({
  ledger: new S3Ledger({ bucket, aws }),
  git: createGitSource({ cacheDir: git.cacheDir, auth }),
  bundles: new S3BundleStore({ bucket, aws }),
  agents: new SqsAgentDispatcher({
    queueUrlFor: agentQueueUrlFor(readAgentQueueUrls()),
    ...(aws.endpoint ? { aws: { endpoint: aws.endpoint } } : {}),
  }),
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  clock: systemClock,
  claims: new S3IdempotencyStore({ bucket, aws }),
  // The revert is pushed with the same credentials plan and render clone with (the Git secret).
  writer: createGitWriter({ cacheDir: git.cacheDir, auth: () => auth() }),
  pullRequests,
  repoUrl: readRepoUrls(),
});
