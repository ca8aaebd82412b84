import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { z } from 'zod';
import { BadInputError, isSluiceError } from '../../shared/errors.ts';
import {
  type DetailType,
  type EventDetail,
  envelopeSchema,
  eventSchemas,
} from '../../shared/schemas/events.ts';

/** What a host (Lambda deps or the local runner) adds to a function. */
export interface SqsHandlerOptions<T> {
  readonly name: string;
  /** FIFO queues: stop at the first failure and fail the rest of the batch, so order is kept. */
  readonly fifo?: boolean;
  readonly parse: (record: SQSRecord) => T;
  readonly process: (message: NoInfer<T>, record: SQSRecord) => Promise<void>;
}

/** What a host (Lambda deps or the local runner) adds to a function. */
export interface HandlerExtras {
  /**
   * Where a message that can never succeed goes at once (the DLQ, with its reason), instead of
   * being retried until maxReceiveCount. Without it, redrive parks the message after retries.
   */
  readonly onPoison?: (record: SQSRecord, error: Error) => Promise<void>;
  readonly logger?: Logger;
}

const traceIdOf = (message: unknown): string | undefined => {
  const m = message as { traceId?: unknown; detail?: { traceId?: unknown } } | undefined;
  const id = m?.traceId ?? m?.detail?.traceId;
  return typeof id === 'string' ? id : undefined;
};

/**
 * The shape of every queue-fed function: parse and validate each record, run the core, report
 * partial batch failures. Bad input is poison (never retried); a retryable error is retried.
 */
export const sqsHandler = <T>(options: SqsHandlerOptions<T>, extras: HandlerExtras = {}) => {
  const logger = extras.logger ?? new Logger({ serviceName: `sluice-${options.name}` });
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    let message: T | undefined;
    try {
      message = options.parse(record);
      const traceId = traceIdOf(message);
      if (traceId) logger.appendKeys({ traceId });
      await options.process(message, record);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      const poison = !isSluiceError(err) || !err.retryable;
      logger.warn(poison ? 'message failed and will not succeed on retry' : 'message failed; will retry', {
        messageId: record.messageId,
        code: isSluiceError(err) ? err.code : 'UNEXPECTED',
        error: err.message,
      });
      if (poison && extras.onPoison) {
        await extras.onPoison(record, err);
        return;
      }
      throw err;
    } finally {
      logger.removeKeys(['traceId']);
    }
  };
  return middy(async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    const processor = options.fifo ? new SqsFifoPartialProcessorAsync() : new BatchProcessor(EventType.SQS);
    return processPartialResponse(event, recordHandler, processor, {
      ...(context ? { context } : {}),
      throwOnFullBatchFailure: false,
    });
  });
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
      // Stamped by EventBridge (the caller of PutEvents), not by the sender: report checks it.
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
