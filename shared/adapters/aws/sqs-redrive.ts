/**
 * Moves what a dead-letter queue holds back to the queue it serves, once the cause is fixed
 * (`sluice redrive`). SQS's own StartMessageMoveTask where the API has it; where an emulator does
 * not, receive → send → delete, keeping a FIFO message's group and deduplication id.
 */
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { UnavailableError } from '../../errors.ts';
import { translateAwsError } from './errors.ts';

export interface RedriveResult {
  readonly moved: number;
  readonly method: 'move-task' | 'receive-send';
}

const attributes = async (sqs: SQSClient, url: string) => {
  try {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['QueueArn', 'ApproximateNumberOfMessages'],
      }),
    );
    return { arn: Attributes?.QueueArn ?? '', depth: Number(Attributes?.ApproximateNumberOfMessages ?? 0) };
  } catch (error) {
    throw translateAwsError(error, `queue ${url}`);
  }
};

/** How many messages the queue holds (approximately, as SQS counts). */
export const queueDepth = async (sqs: SQSClient, url: string): Promise<number> =>
  (await attributes(sqs, url)).depth;

/** An API the endpoint does not implement (an emulator), as opposed to a refusal or an outage. */
const unsupported = (error: unknown): boolean => {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  return (
    /UnsupportedOperation|InvalidAction|NotImplemented|UnknownOperation/i.test(e.name ?? '') ||
    /not (yet )?(implemented|supported)/i.test(e.message ?? '') ||
    e.$metadata?.httpStatusCode === 501
  );
};

export const redriveQueue = async (
  sqs: SQSClient,
  queues: { deadLetterUrl: string; queueUrl: string },
  options: { timeoutMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<RedriveResult> => {
  const sleep = options.sleep ?? ((ms: number) => new Promise((done) => setTimeout(done, ms)));
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const [dlq, target] = await Promise.all([
    attributes(sqs, queues.deadLetterUrl),
    attributes(sqs, queues.queueUrl),
  ]);
  if (dlq.depth === 0) return { moved: 0, method: 'move-task' };
  let handle: string | undefined;
  try {
    handle = (
      await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlq.arn, DestinationArn: target.arn }))
    ).TaskHandle;
  } catch (error) {
    if (!unsupported(error)) throw translateAwsError(error, `message move from ${queues.deadLetterUrl}`);
  }
  if (handle !== undefined) {
    while (Date.now() < deadline) {
      const { Results } = await sqs.send(
        new ListMessageMoveTasksCommand({ SourceArn: dlq.arn, MaxResults: 1 }),
      );
      const task = Results?.find((r) => r.TaskHandle === handle) ?? Results?.[0];
      if (task?.Status === 'COMPLETED')
        return { moved: task.ApproximateNumberOfMessagesMoved ?? 0, method: 'move-task' };
      if (task?.Status === 'FAILED' || task?.Status === 'CANCELLED') {
        throw new UnavailableError(
          `message move from ${queues.deadLetterUrl}`,
          new Error(task.FailureReason ?? task.Status),
        );
      }
      await sleep(500);
    }
    throw new UnavailableError(
      `message move from ${queues.deadLetterUrl}`,
      new Error('still running; check again'),
    );
  }
  return { moved: await copyBack(sqs, queues, deadline), method: 'receive-send' };
};

/** Receive → send → delete until the dead-letter queue answers empty. */
const copyBack = async (
  sqs: SQSClient,
  queues: { deadLetterUrl: string; queueUrl: string },
  deadline: number,
): Promise<number> => {
  const fifo = queues.queueUrl.endsWith('.fifo');
  let moved = 0;
  while (Date.now() < deadline) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queues.deadLetterUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 60,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'],
      }),
    );
    if (Messages.length === 0) return moved;
    for (const message of Messages) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queues.queueUrl,
          MessageBody: message.Body ?? '',
          ...(message.MessageAttributes ? { MessageAttributes: message.MessageAttributes } : {}),
          ...(fifo
            ? {
                MessageGroupId: message.Attributes?.MessageGroupId ?? 'redrive',
                MessageDeduplicationId: `redrive-${message.MessageId}`,
              }
            : {}),
        }),
      );
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: queues.deadLetterUrl, ReceiptHandle: message.ReceiptHandle }),
      );
      moved++;
    }
  }
  return moved;
};
