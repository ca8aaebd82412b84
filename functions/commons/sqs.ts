/**
 * For queue-fed functions that are not (yet) a stage of the composition root
 * (shared/runtime/pipeline.ts): the same handler shape, middlewares and failure rule
 * (shared/runtime/sqs-handler.ts). A poison message goes to `onPoison` when the host gives one,
 * else it is retried until the queue's redrive policy parks it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSRecord } from 'aws-lambda';
import { pipelineMetrics } from '../../shared/runtime/metrics.ts';
import { sqsHandler as runtimeSqsHandler, type SqsStage } from '../../shared/runtime/sqs-handler.ts';

export { busEvent, parseDetail } from '../../shared/runtime/sqs-handler.ts';

export interface HandlerExtras {
  readonly onPoison?: (record: SQSRecord, error: Error) => Promise<void>;
  readonly logger?: Logger;
}

export const sqsHandler = <T>(stage: SqsStage<T>, extras: HandlerExtras = {}) =>
  runtimeSqsHandler(stage, {
    logger: extras.logger ?? new Logger({ serviceName: `sluice-${stage.name}` }),
    metrics: pipelineMetrics(stage.name),
    deadLetters: {
      park: async (message, reason) => {
        if (!extras.onPoison) throw new Error(reason);
        await extras.onPoison(message as SQSRecord, new Error(reason));
      },
    },
  });
