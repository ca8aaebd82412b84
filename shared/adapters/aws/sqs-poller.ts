/**
 * An SQS event source outside Lambda: long-polls a queue and hands each message to a handler, as
 * Lambda's event-source mapping would. `sluice agent` drains its region's agent queue with it, and
 * `sluice dev --aws` every pipeline queue on the emulator.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';

/** The part of the SQS client the loop uses. */
export interface QueueClient {
  send(
    command:
      | ReceiveMessageCommand
      | DeleteMessageCommand
      | DeleteMessageBatchCommand
      | ChangeMessageVisibilityCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ Messages?: Message[] } | object>;
}

export interface PollQueueOptions {
  readonly queueUrl: string;
  readonly sqs: QueueClient;
  /** Runs one message; true when it is done (delete it), false to let the queue retry it. */
  readonly handle?: (record: SQSRecord) => Promise<boolean>;
  readonly signal: AbortSignal;
  /** Seconds a received message stays invisible; renewed at half-time while it is worked on. */
  readonly visibilityTimeout?: number;
  readonly log?: (line: string) => void;
  /**
   * Batches, as a Lambda event source with a batching window hands them over: once a message
   * arrives, keep receiving until `size` messages or `windowMs` passed, then run them together
   * (`handleBatch`). @default one message at a time
   */
  readonly batch?: {
    readonly size: number;
    readonly windowMs: number;
    /** The ids of the messages that failed (they stay on the queue); the rest are deleted. */
    readonly handle: (records: SQSRecord[]) => Promise<readonly string[]>;
  };
}

const toRecord = (m: Message, queueUrl: string): SQSRecord => ({
  messageId: m.MessageId ?? '',
  receiptHandle: m.ReceiptHandle ?? '',
  body: m.Body ?? '',
  attributes: {
    ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
    SentTimestamp: m.Attributes?.SentTimestamp ?? '0',
    SenderId: m.Attributes?.SenderId ?? '',
    ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? '0',
    ...(m.Attributes?.MessageGroupId ? { MessageGroupId: m.Attributes.MessageGroupId } : {}),
  },
  messageAttributes: {},
  md5OfBody: m.MD5OfBody ?? '',
  eventSource: 'aws:sqs',
  eventSourceARN: queueUrl,
  awsRegion: '',
});

/**
 * Long-polls until `signal` aborts. One message at a time: work for one cluster is applied in
 * order. A message whose work fails stays on the queue (it becomes visible again and the queue's
 * redrive policy parks it after its receive limit).
 */
export const pollQueue = async (options: PollQueueOptions): Promise<void> => {
  if (options.batch) return pollBatches(options, options.batch);
  const handle = options.handle;
  if (!handle) throw new Error('pollQueue: give `handle` (one message at a time) or `batch`');
  const visibility = options.visibilityTimeout ?? 120;
  const log = options.log ?? (() => {});
  while (!options.signal.aborted) {
    let messages: Message[] = [];
    try {
      messages = await receive(options, 1, 20, visibility);
    } catch (error) {
      if (options.signal.aborted) break;
      log(`receive failed, retrying in 5 s: ${error instanceof Error ? error.message : String(error)}`);
      await new Promise((ok) => setTimeout(ok, 5000));
      continue;
    }
    for (const message of messages) {
      const receipt = message.ReceiptHandle ?? '';
      // Keep the message ours while a long apply or health wait runs.
      const heartbeat = setInterval(
        () => {
          options.sqs
            .send(
              new ChangeMessageVisibilityCommand({
                QueueUrl: options.queueUrl,
                ReceiptHandle: receipt,
                VisibilityTimeout: visibility,
              }),
            )
            .catch((error: unknown) =>
              log(`could not extend visibility: ${error instanceof Error ? error.message : String(error)}`),
            );
        },
        // A third of the timeout: two renewals may be late or lost before the message lapses.
        (visibility * 1000) / 3,
      );
      try {
        const done = await handle(toRecord(message, options.queueUrl));
        if (done) {
          await options.sqs.send(
            new DeleteMessageCommand({ QueueUrl: options.queueUrl, ReceiptHandle: receipt }),
          );
        }
      } catch (error) {
        // The message stays on the queue: it comes back after its visibility timeout.
        log(`message ${message.MessageId}: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearInterval(heartbeat);
      }
    }
  }
};

const receive = (
  options: PollQueueOptions,
  max: number,
  waitSeconds: number,
  visibility: number,
): Promise<Message[]> =>
  options.sqs
    .send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: Math.min(10, max),
        WaitTimeSeconds: waitSeconds,
        VisibilityTimeout: visibility,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp', 'MessageGroupId'],
      }),
      { abortSignal: options.signal },
    )
    .then((out) => (out as { Messages?: Message[] }).Messages ?? []);

/** The batching loop: a batch is gathered for at most `windowMs` after its first message. */
const pollBatches = async (options: PollQueueOptions, batch: NonNullable<PollQueueOptions['batch']>) => {
  // Long enough for the window and the batch's work: nothing here renews it.
  const visibility = Math.max(options.visibilityTimeout ?? 120, Math.ceil(batch.windowMs / 1000) * 2);
  const log = options.log ?? (() => {});
  while (!options.signal.aborted) {
    const messages: Message[] = [];
    try {
      messages.push(...(await receive(options, batch.size, 20, visibility)));
      const until = Date.now() + batch.windowMs;
      while (messages.length > 0 && messages.length < batch.size && Date.now() < until) {
        const wait = Math.max(0, Math.min(20, Math.floor((until - Date.now()) / 1000)));
        const more = await receive(options, batch.size - messages.length, wait, visibility);
        messages.push(...more);
        if (more.length === 0 && wait === 0) break;
      }
    } catch (error) {
      if (options.signal.aborted) break;
      log(`receive failed, retrying in 5 s: ${error instanceof Error ? error.message : String(error)}`);
      await new Promise((ok) => setTimeout(ok, 5000));
      if (messages.length === 0) continue;
    }
    if (messages.length === 0) continue;
    let failed: ReadonlySet<string>;
    try {
      failed = new Set(await batch.handle(messages.map((m) => toRecord(m, options.queueUrl))));
    } catch (error) {
      log(`batch of ${messages.length}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
    for (let i = 0; i < done.length; i += 10) {
      await options.sqs
        .send(
          new DeleteMessageBatchCommand({
            QueueUrl: options.queueUrl,
            Entries: done
              .slice(i, i + 10)
              .map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        )
        .catch((error: unknown) =>
          log(`delete failed: ${error instanceof Error ? error.message : String(error)}`),
        );
    }
  }
};
