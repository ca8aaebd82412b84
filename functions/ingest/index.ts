/** Lambda entry point: the webhook endpoint on AWS adapters, built once per cold start. */
import { randomUUID } from 'node:crypto';
import { S3IdempotencyStore } from '../../shared/adapters/aws/s3-idempotency-store.ts';
import { SqsPlanIntake } from '../../shared/adapters/aws/sqs-plan-intake.ts';
import { SqsReconcileTrigger } from '../../shared/adapters/aws/sqs-reconcile-trigger.ts';
import { readDeployRepos, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { TokenBucketLimiter } from '../../shared/core/webhooks/rate-limit.ts';
import { isSluiceError } from '../../shared/errors.ts';
import { PLAN_QUEUE_URL_ENV } from '../../shared/routing.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { aws, bus, clock, secrets } from '../commons/aws.ts';

const webhookSecret = requireEnv(SLUICE_ENV.webhookSecret);

/** The stack's shared secret `{"github": "…", "github-previous": "…"}`: the current one and, during a rotation, the old one. */
const sharedWebhookSecrets = async (provider: string): Promise<string[]> => {
  const read = (key: string) =>
    secrets()
      .get(`aws-sm://${webhookSecret}#${key}`)
      .catch((error: unknown) => {
        if (isSluiceError(error) && error.code === 'NOT_FOUND') return '';
        throw error;
      });
  return Promise.all([read(provider), read(`${provider}-previous`)]);
};

export const handler = createPipeline({
  clock,
  bus: bus(),
  deliveries: new S3IdempotencyStore({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
  // A repo's own secret (sluice/webhooks/<provider>/<repo>), else the shared one.
  secrets: secrets(),
  sharedWebhookSecrets,
  newTraceId: randomUUID,
  // Only the repos the deployment config lists (SLUICE_REPOS); clone URLs from there, never the payload.
  repos: readDeployRepos(),
  // Straight to the plan queue, grouped per repo+branch (EventBridge could give it one group only).
  planIntake: new SqsPlanIntake({ queueUrl: requireEnv(PLAN_QUEUE_URL_ENV), aws }),
  // Per repo and instance, a bound on what one sender can make the pipeline do; a throttled push
  // (429) asks the reconcile function to check its repo once the limit lets up (docs/operate.md).
  rateLimiter: new TokenBucketLimiter({ clock }),
  reconcile: new SqsReconcileTrigger({ queueUrl: requireEnv(SLUICE_ENV.reconcileQueueUrl), aws }),
}).ingestHandler();
