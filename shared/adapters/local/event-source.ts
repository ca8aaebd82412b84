import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { LocalQueue, QueueMessage } from './queue.ts';

/** What a Lambda SQS event-source mapping calls: the same handler shape in AWS and in process. */
// biome-ignore lint/suspicious/noConfusingVoidType: Lambda handlers may return nothing.
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | undefined | void>;

/** The Lambda context a local invocation gets: enough for Powertools and middy. */
export const localContext = (functionName: string, timeoutMs = 60_000): Context => {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
};

export interface ConsumerOptions {
  readonly batchSize?: number;
  readonly visibilityTimeoutMs?: number;
  /** Idle poll interval; the consumer also wakes on every send. */
  readonly pollMs?: number;
  /** Backoff before a failed message is visible again; doubles with each receive, capped at 30 s. */
  readonly retryDelayMs?: number;
  /** How many batches run at once (distinct FIFO groups still keep their order). */
  readonly concurrency?: number;
  readonly arnPrefix?: string;
}

export interface Consumer {
  readonly queue: LocalQueue;
  /** Batches currently being handled. */
  readonly busy: number;
  stop(): Promise<void>;
}

const toRecord = (queue: LocalQueue, m: QueueMessage, arnPrefix: string): SQSRecord => ({
  messageId: m.messageId,
  receiptHandle: m.receiptHandle!,
  body: m.body,
  attributes: {
    ApproximateReceiveCount: String(m.receiveCount),
    SentTimestamp: String(m.sentAt),
    SenderId: 'sluice-local',
    ApproximateFirstReceiveTimestamp: String(m.sentAt),
    ...(m.groupId ? { MessageGroupId: m.groupId } : {}),
    ...(m.dedupId ? { MessageDeduplicationId: m.dedupId } : {}),
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: `${arnPrefix}:${queue.name}`,
  awsRegion: 'local',
});

/**
 * Drives a handler from a local queue the way Lambda's event-source mapping does: receive a
 * batch, call the handler, delete what succeeded, leave reported failures to reappear after a
 * backoff (and reach the DLQ after maxReceiveCount). A thrown handler fails the whole batch.
 */
export const startConsumer = (
  queue: LocalQueue,
  handler: SqsHandler,
  options: ConsumerOptions = {},
): Consumer => {
  const batchSize = options.batchSize ?? 10;
  const visibility = options.visibilityTimeoutMs ?? 30_000;
  const pollMs = options.pollMs ?? 250;
  const retryDelayMs = options.retryDelayMs ?? 200;
  const concurrency = options.concurrency ?? 2;
  const arnPrefix = options.arnPrefix ?? 'arn:aws:sqs:local:000000000000';
  let stopped = false;
  let busy = 0;

  const runBatch = async (messages: QueueMessage[]) => {
    const event: SQSEvent = { Records: messages.map((m) => toRecord(queue, m, arnPrefix)) };
    let failed = new Set<string>();
    try {
      const response = await handler(event, localContext(queue.name, visibility));
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (error) {
      failed = new Set(messages.map((m) => m.messageId));
      const reason = error instanceof Error ? error.message : String(error);
      for (const m of messages) m.attributes.lastError = reason;
    }
    for (const m of messages) {
      if (!m.receiptHandle) continue;
      if (failed.has(m.messageId)) {
        queue.changeVisibility(m.receiptHandle, Math.min(30_000, retryDelayMs * 2 ** (m.receiveCount - 1)));
      } else queue.delete(m.receiptHandle);
    }
  };

  const loop = async (): Promise<void> => {
    while (!stopped) {
      if (busy >= concurrency) {
        await queue.waitForChange(pollMs);
        continue;
      }
      const batch = queue.receive(batchSize, visibility);
      if (batch.length === 0) {
        const next = queue.nextVisibleInMs();
        await queue.waitForChange(Math.max(5, Math.min(pollMs, next ?? pollMs)));
        continue;
      }
      busy += 1;
      void runBatch(batch).finally(() => {
        busy -= 1;
      });
    }
  };
  const running = loop();

  return {
    queue,
    get busy() {
      return busy;
    },
    async stop() {
      stopped = true;
      await running;
      while (busy > 0) await queue.waitForChange(20);
    },
  };
};
