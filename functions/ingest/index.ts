/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { randomUUID } from 'node:crypto';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3IdempotencyStore } from '../../shared/adapters/aws/s3-idempotency-store.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { TtlCache } from '../../shared/adapters/ttl-cache.ts';
import { readAwsSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { repoWebhookSecrets } from '../../shared/core/webhook-registration.ts';
import { isSluiceError } from '../../shared/errors.ts';
import { PLAN_QUEUE_URL_ENV } from '../../shared/routing.ts';
import { createIngestHandler } from './handler.ts';
import { SqsPlanIntake } from './sqs-plan-intake.ts';

const aws = readAwsSettings();
const secrets = new SecretsManagerStore({ aws });
const webhookSecret = requireEnv(SLUICE_ENV.webhookSecret);

/** The stack's shared secret `{"github": "…", "github-previous": "…"}`: the current one and, during a rotation, the old one. */
const sharedSecrets = async (provider: string): Promise<string[]> => {
  const read = (key: string) =>
    secrets.get(`aws-sm://${webhookSecret}#${key}`).catch((error: unknown) => {
      if (isSluiceError(error) && error.code === 'NOT_FOUND') return '';
      throw error;
    });
  return Promise.all([read(provider), read(`${provider}-previous`)]);
};

/**
 * A repo's own secret, `sluice/webhooks/<provider>/<repo>` (what `sluice webhook register
 * --secret-ref aws-sm://sluice/webhooks/<provider>/<repo>` stores), else the shared one. Answers,
 * "none of its own" included, are kept a minute: repos on the shared secret cost no lookup per push.
 */
const perRepo = repoWebhookSecrets({ store: secrets, clock: systemClock, fallback: sharedSecrets });
const answers = new TtlCache<string[]>({ ttlMs: 60_000 });
const webhookSecrets = (provider: string, repo?: string): Promise<string[]> =>
  answers.get(`${provider}\n${repo ?? ''}`, () => perRepo(provider, repo));

export const handler = createIngestHandler({
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  deliveries: new S3IdempotencyStore({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
  clock: systemClock,
  webhookSecrets,
  newTraceId: randomUUID,
  // Straight to the plan queue, grouped per repo+branch (EventBridge could give it one group only).
  planIntake: new SqsPlanIntake({ queueUrl: requireEnv(PLAN_QUEUE_URL_ENV), aws }),
});
