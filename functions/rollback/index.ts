/** Lambda entry point: the rollback stage on AWS adapters, built once per cold start. */
import { S3IdempotencyStore } from '../../shared/adapters/aws/s3-idempotency-store.ts';
import { secretCommitSigner } from '../../shared/adapters/git/commit-signing.ts';
import { createGitWriter } from '../../shared/adapters/git/git-writer.ts';
import { createGithubPullRequests } from '../../shared/adapters/github/pull-request.ts';
import {
  optionalEnv,
  readGitSettings,
  readRepoUrls,
  requireEnv,
  SLUICE_ENV,
} from '../../shared/config/env.ts';
import { ConfigError } from '../../shared/errors.ts';
import type { PullRequestOpener } from '../../shared/ports/index.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import {
  agents,
  aws,
  bundles,
  bus,
  clock,
  deadLetters,
  git,
  gitAuth,
  ledger,
  secrets,
  signing,
} from '../commons/aws.ts';

const auth = gitAuth();
// Sluice's own commit-signing key (the management stack's secret), read when the first revert is signed.
const commitSigningKey = optionalEnv(SLUICE_ENV.commitSigningKey);

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
      secrets: secrets(),
      tokenRef: `aws-sm://${requireEnv(SLUICE_ENV.gitSecret)}#password`,
    });
    return github.openPullRequest(input);
  },
};

export const handler = createPipeline(
  {
    clock,
    bus: bus(),
    ledger: ledger(),
    git: git(),
    bundles: bundles(),
    agents: agents(),
    deadLetters: deadLetters(),
    claims: new S3IdempotencyStore({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
    // The revert is pushed with the same credentials plan and render clone with (the Git secret).
    writer: createGitWriter({
      cacheDir: readGitSettings().cacheDir,
      auth: () => auth(),
      ...(commitSigningKey
        ? { signer: secretCommitSigner({ secrets: secrets(), secret: commitSigningKey }) }
        : {}),
    }),
    pullRequests,
    repoUrl: readRepoUrls(),
    ...signing.signer(),
  },
  signing.options,
).handler('rollback');
