/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { SqsAgentDispatcher } from '../../shared/adapters/aws/sqs-agent-dispatcher.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { readAgentQueueUrls, readAwsSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { ConfigError } from '../../shared/errors.ts';
import type { TargetRef } from '../../shared/schemas/events.ts';
import { createDispatchHandler } from './handler.ts';

const aws = readAwsSettings();
const queues = readAgentQueueUrls();

/** A target's agent queue: listed by name in the deploy config, else its region's only agent. */
const queueUrlFor = (target: TargetRef): string => {
  const url = queues.targets[target.name] ?? queues.regions[target.region];
  if (url === undefined) {
    throw new ConfigError(
      'sluice.deploy.yaml',
      'regions[].targets',
      `no regional agent serves target "${target.name}" (region ${target.region})`,
      `add "${target.name}" to the targets of a regions[] entry and redeploy the management stack`,
    );
  }
  return url;
};

export const handler = createDispatchHandler({
  ledger: new S3Ledger({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
  agents: new SqsAgentDispatcher({
    queueUrlFor,
    ...(aws.endpoint ? { aws: { endpoint: aws.endpoint } } : {}),
  }),
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  clock: systemClock,
});
