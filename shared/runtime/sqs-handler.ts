import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import type { SqsHandler } from '../adapters/local/event-source.ts';
import { BadInputError, isSluiceError } from '../errors.ts';
import type { DeadLetters } from '../ports/index.ts';
import { type DetailType, type EventDetail, envelopeSchema, eventSchemas } from '../schemas/events.ts';

/**
 * The one rule every host follows when a record fails. A SluiceError that says it is not
 * retryable (bad input, a schema mismatch, bad config) cannot succeed on retry: it is poison and
 * is parked in the dead-letter queue at once. Anything else — a retryable SluiceError or an error
 * nobody expected — is retried by the queue, and its redrive policy parks it after
 * MAX_RECEIVE_COUNT receives.
 */
export const failureAction = (error: unknown): 'retry' | 'poison' =>
  isSluiceError(error) && !error.retryable ? 'poison' : 'retry';

/** A stage's record work: what a host never has to write again. */
export interface SqsStage<T> {
  readonly name: string;
  /** FIFO queues: stop at the first failure and fail the rest of the batch, so order is kept. */
  readonly fifo?: boolean;
  readonly parse: (record: SQSRecord) => T;
  readonly process: (message: NoInfer<T>, record: SQSRecord, logger: Logger) => Promise<void>;
}

/** What every queue-fed handler is given by the composition root. */
export interface SqsRuntime {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly deadLetters: DeadLetters;
}

const traceIdOf = (message: unknown): string | undefined => {
  const m = message as { traceId?: unknown; detail?: { traceId?: unknown } } | undefined;
  const id = m?.traceId ?? m?.detail?.traceId;
  return typeof id === 'string' ? id : undefined;
};

/**
 * The batch processor as middleware (`@aws-lambda-powertools/batch` ships none): `before` runs
 * every record through the processor, `after` answers with the partial batch response. Running in
 * `before` and answering in `after` (not an early return) keeps the other middlewares' `after`
 * hooks — the metrics flush — running.
 */
const partialBatch = (
  recordHandler: (record: SQSRecord) => Promise<void>,
  fifo: boolean,
): MiddlewareObj<SQSEvent, SQSBatchResponse> => {
  const responses = new WeakMap<object, SQSBatchResponse>();
  return {
    before: async (request) => {
      const processor = fifo ? new SqsFifoPartialProcessorAsync() : new BatchProcessor(EventType.SQS);
      responses.set(
        request,
        await processPartialResponse(request.event, recordHandler, processor, {
          context: request.context,
          throwOnFullBatchFailure: false,
        }),
      );
    },
    after: (request) => {
      request.response = responses.get(request) ?? { batchItemFailures: [] };
    },
  };
};

/**
 * The shape of every queue-fed function: Powertools Logger (Lambda context, the push's traceId as
 * correlation id) and Metrics (EMF) as middleware, then the batch processor. Each record is
 * parsed, validated and run through the core; a failure follows `failureAction`.
 */
export const sqsHandler = <T>(stage: SqsStage<T>, runtime: SqsRuntime): SqsHandler => {
  const { logger, metrics, deadLetters } = runtime;
  // No per-record success or duration metric: CloudWatch bills each custom metric by the hour it
  // receives data, and Lambda's own Invocations and Duration say the same for free (docs/cost.md).
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    let log = logger;
    try {
      const message = stage.parse(record);
      const traceId = traceIdOf(message);
      if (traceId) {
        // A child per record: records of one batch run concurrently and must not share the id.
        log = logger.createChild();
        log.setCorrelationId(traceId);
      }
      await stage.process(message, record, log);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      const action = failureAction(err);
      metrics.addMetric('RecordFailures', MetricUnit.Count, 1);
      log.warn(
        action === 'poison' ? 'message failed and will not succeed on retry' : 'message failed; will retry',
        {
          messageId: record.messageId,
          code: isSluiceError(err) ? err.code : 'UNEXPECTED',
          error: err.message,
        },
      );
      if (action === 'poison') {
        await deadLetters.park(record, err.message);
        return;
      }
      throw err;
    }
  };
  // The batch middleware answers; the handler itself has nothing left to do.
  return middy(async (_event: SQSEvent): Promise<SQSBatchResponse> => ({ batchItemFailures: [] }))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(partialBatch(recordHandler, stage.fifo ?? false)) as unknown as SqsHandler;
};

/** Parses a record whose body is an EventBridge envelope (an EventBridge → SQS target). */
export const busEvent =
  <T extends DetailType>(...detailTypes: T[]) =>
  (
    record: SQSRecord,
  ): { detailType: T; detail: EventDetail<T>; origin: { account?: string; region?: string } } => {
    let json: unknown;
    try {
      json = JSON.parse(record.body);
    } catch {
      throw new BadInputError(
        `message ${record.messageId}`,
        'body is not JSON',
        'send EventBridge envelopes',
      );
    }
    const envelope = envelopeSchema.safeParse(json);
    if (!envelope.success) {
      throw new BadInputError(
        `message ${record.messageId}`,
        'body is not an EventBridge envelope',
        'check the rule target input',
      );
    }
    const detailType = envelope.data['detail-type'] as T;
    if (!detailTypes.includes(detailType)) {
      throw new BadInputError(
        `message ${record.messageId}`,
        `detail-type "${detailType}" is not one of ${detailTypes.join(', ')}`,
        'check the EventBridge rule that feeds this queue',
      );
    }
    const { account, region } = envelope.data;
    return {
      detailType,
      detail: parseDetail(eventSchemas[detailType], envelope.data.detail, record.messageId) as EventDetail<T>,
      // Stamped by EventBridge from the caller of PutEvents, not by the sender: report checks it.
      origin: { ...(account ? { account } : {}), ...(region ? { region } : {}) },
    };
  };

export const parseDetail = <S extends z.ZodType>(
  schema: S,
  detail: unknown,
  messageId: string,
): z.infer<S> => {
  const parsed = schema.safeParse(detail);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BadInputError(
      `message ${messageId}`,
      `detail.${issue.path.join('.')} ${issue.message}`,
      'the producer must send events that match shared/schemas/events.ts',
    );
  }
  return parsed.data;
};
