/**
 * The AWS adapters the Lambda entry points pick from, each built from the settings the stack sets
 * (infra/constructs/sluice-function.ts: every bindX sets a setting and its grant together). Each
 * entry point builds only what its own function uses, so a bundle carries only its clients.
 */

import { BundleCopyingDispatcher } from '../../shared/adapters/aws/bundle-copying-dispatcher.ts';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { KmsBundleSigner, KmsBundleVerifier } from '../../shared/adapters/aws/kms-bundle-signing.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { agentQueueUrlFor, SqsAgentDispatcher } from '../../shared/adapters/aws/sqs-agent-dispatcher.ts';
import { SqsDeadLetters } from '../../shared/adapters/aws/sqs-dead-letters.ts';
import { SqsRolloutTimer } from '../../shared/adapters/aws/sqs-rollout-timer.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { GithubStatusProvider } from '../../shared/adapters/github/status.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import {
  readAgentQueueUrls,
  readAwsSettings,
  readCheckoutLimits,
  readGitSettings,
  requireEnv,
  SLUICE_ENV,
} from '../../shared/config/env.ts';
import { ownersFromAgentQueues } from '../../shared/core/report.ts';
import type { GitProvider } from '../../shared/ports/index.ts';

export const aws = readAwsSettings();
export const clock = systemClock;

export const bus = () => new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws });
export const ledger = () => new S3Ledger({ bucket: requireEnv(SLUICE_ENV.bucket), aws });
/** Bundles live in the management region, which may not be this function's (a regional agent). */
export const bundles = () =>
  new S3BundleStore({
    bucket: requireEnv(SLUICE_ENV.bucket),
    aws: { ...aws, region: requireEnv(SLUICE_ENV.bucketRegion) },
  });

let secretsManager: SecretsManagerStore | undefined;
export const secrets = () => {
  secretsManager ??= new SecretsManagerStore({ aws });
  return secretsManager;
};

/** The config repos through isomorphic-git, with the Git secret's credentials (anonymous when it has none). */
export const gitAuth = () => readGitSettings().auth(secrets());
export const git = () =>
  createGitSource({
    cacheDir: readGitSettings().cacheDir,
    auth: gitAuth(),
    limits: readCheckoutLimits(),
  });

/**
 * Apply Requested to each target's agent queue (SLUICE_AGENT_QUEUES), after copying its bundle into
 * the bucket of the agent's own account/region, from which the agent reads it.
 */
export const agents = () => {
  const queueUrlFor = agentQueueUrlFor(readAgentQueueUrls());
  return new BundleCopyingDispatcher({
    inner: new SqsAgentDispatcher({
      queueUrlFor,
      ...(aws.endpoint ? { aws: { endpoint: aws.endpoint } } : {}),
    }),
    queueUrlFor,
    sourceBucket: requireEnv(SLUICE_ENV.bucket),
    aws,
  });
};

/** Report: the account owning each target, from the agent queue map the stack gives it. */
export const owners = () => ownersFromAgentQueues(readAgentQueueUrls());

/**
 * Progressive delivery: a rollout's wake-ups (a held wave, an outcome, a bake's end) as delayed
 * messages on the stack's rollout queue (SLUICE_ROLLOUT_QUEUE_URL).
 */
export const rolloutTimer = () =>
  new SqsRolloutTimer({ queueUrl: requireEnv(SLUICE_ENV.rolloutQueueUrl), clock, aws });

/**
 * What hands apply requests to the agents, signed, and wakes rollouts: dispatch, and the rollout
 * function for each wave it releases.
 */
export const dispatching = () => ({
  clock,
  bus: bus(),
  ledger: ledger(),
  agents: agents(),
  deadLetters: deadLetters(),
  // An app with `rollout` waves: dispatch holds its requests in the ledger, rollout sends them.
  rolloutTimer: rolloutTimer(),
  ...signing.signer(),
});

/** This function's queue has one dead-letter queue (SLUICE_DEAD_LETTER_QUEUE_URL): poison goes there at once. */
export const deadLetters = () => {
  const url = requireEnv(SLUICE_ENV.deadLetterQueueUrl);
  return new SqsDeadLetters({ queueUrlFor: () => url, aws });
};

/**
 * Commit statuses on GitHub when the Git secret holds a token (read once per cold start); an
 * anonymous secret (`{}`) leaves them off. The same provider in plan, render and report.
 */
export const statusProvider = async (): Promise<{ provider?: GitProvider }> => {
  const credentials = await gitAuth()();
  return credentials ? { provider: new GithubStatusProvider({ token: credentials.password }) } : {};
};

/**
 * Bundle signing on AWS: the KMS key in SLUICE_SIGNING_KEY (the management stack's). Dispatch and
 * rollback sign with it, the agent verifies against its public key — the same `required` signing as
 * `sluice dev`, whose key is a local Ed25519 file.
 */
export const signing = {
  signer: () => ({ signer: new KmsBundleSigner({ keyId: requireEnv(SLUICE_ENV.signingKey), aws }) }),
  verifier: () => ({
    // The key lives in the management region, which may not be this agent's.
    verifier: new KmsBundleVerifier({ keyId: requireEnv(SLUICE_ENV.signingKey), aws: keyRegion() }),
  }),
  options: { signing: 'required' as const },
};

/** The region of a KMS key ARN (arn:aws:kms:<region>:…), else this function's. */
const keyRegion = () => {
  const region = requireEnv(SLUICE_ENV.signingKey).split(':')[3];
  return region ? { ...aws, region } : aws;
};
