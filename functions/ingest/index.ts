/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { randomUUID } from 'node:crypto';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3IdempotencyStore } from '../../shared/adapters/aws/s3-idempotency-store.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { readAwsSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { isSluiceError } from '../../shared/errors.ts';
import { PLAN_QUEUE_URL_ENV } from '../../shared/routing.ts';
import { createIngestHandler } from './handler.ts';
import { SqsPlanIntake } from './sqs-plan-intake.ts';

const aws = readAwsSettings();
const secrets = new SecretsManagerStore({ aws });
const webhookSecret = requireEnv(SLUICE_ENV.webhookSecret);

/** `{"github": "…", "github-previous": "…"}`: the current secret and, during a rotation, the old one. */
const webhookSecrets = async (provider: string): Promise<string[]> => {
  const read = (key: string) =>
    secrets.get(`aws-sm://${webhookSecret}#${key}`).catch((error: unknown) => {
      if (isSluiceError(error) && error.code === 'NOT_FOUND') return '';
      throw error;
    });
  return Promise.all([read(provider), read(`${provider}-previous`)]);
};

export const handler = createIngestHandler({
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  deliveries: new S3IdempotencyStore({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
  clock: systemClock,
  webhookSecrets,
  newTraceId: randomUUID,
  // Straight to the plan queue, grouped per repo+branch (EventBridge could give it one group only).
  planIntake: new SqsPlanIntake({ queueUrl: requireEnv(PLAN_QUEUE_URL_ENV), aws }),
});
