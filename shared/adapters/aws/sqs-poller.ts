/**
 * An SQS event source outside Lambda: long-polls a queue and hands each message to a handler, as
 * Lambda's event-source mapping would. `sluice agent` drains its region's agent queue with it, and
 * `sluice dev --aws` every pipeline queue on the emulator.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';

/** The part of the SQS client the loop uses. */
export interface QueueClient {
  send(
    command: ReceiveMessageCommand | DeleteMessageCommand | ChangeMessageVisibilityCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ Messages?: Message[] } | object>;
}

export interface PollQueueOptions {
  readonly queueUrl: string;
  readonly sqs: QueueClient;
  /** Runs one message; true when it is done (delete it), false to let the queue retry it. */
  readonly handle: (record: SQSRecord) => Promise<boolean>;
  readonly signal: AbortSignal;
  /** Seconds a received message stays invisible; renewed at half-time while it is worked on. */
  readonly visibilityTimeout?: number;
  readonly log?: (line: string) => void;
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
  const visibility = options.visibilityTimeout ?? 120;
  const log = options.log ?? (() => {});
  while (!options.signal.aborted) {
    let messages: Message[] = [];
    try {
      const out = (await options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: 20,
          VisibilityTimeout: visibility,
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp', 'MessageGroupId'],
        }),
        { abortSignal: options.signal },
      )) as { Messages?: Message[] };
      messages = out.Messages ?? [];
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
        const done = await options.handle(toRecord(message, options.queueUrl));
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
