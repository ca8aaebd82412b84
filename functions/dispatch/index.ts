/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { agentQueueUrlFor, SqsAgentDispatcher } from '../../shared/adapters/aws/sqs-agent-dispatcher.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { readAgentQueueUrls, readAwsSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { createDispatchHandler } from './handler.ts';

const aws = readAwsSettings();

export const handler = createDispatchHandler({
  ledger: new S3Ledger({ bucket: requireEnv(SLUICE_ENV.bucket), aws }),
  agents: new SqsAgentDispatcher({
    queueUrlFor: agentQueueUrlFor(readAgentQueueUrls()),
    ...(aws.endpoint ? { aws: { endpoint: aws.endpoint } } : {}),
  }),
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  clock: systemClock,
});
