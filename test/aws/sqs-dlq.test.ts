import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { processSqsRecords } from '../../shared/adapters/aws/sqs-batch.ts';
import { clients, receive, toRecord, uniqueName } from './support.ts';

const queueArn = async (queueUrl: string): Promise<string> => {
  const { Attributes } = await clients().sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  return Attributes!.QueueArn!;
};

/** A queue with a DLQ after `maxReceiveCount` receives (both FIFO when `fifo`). */
const queueWithDlq = async (options: { fifo: boolean; maxReceiveCount: number }) => {
  const { sqs } = clients();
  const name = uniqueName('work');
  const suffix = options.fifo ? '.fifo' : '';
  const fifoAttributes: Record<string, string> = options.fifo
    ? { FifoQueue: 'true', ContentBasedDeduplication: 'true' }
    : {};
  const dlq = await sqs.send(
    new CreateQueueCommand({ QueueName: `${name}-dlq${suffix}`, Attributes: fifoAttributes }),
  );
  const dlqArn = await queueArn(dlq.QueueUrl!);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}${suffix}`,
      Attributes: {
        ...fifoAttributes,
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: options.maxReceiveCount,
        }),
      },
    }),
  );
  return {
    queueUrl: queue.QueueUrl!,
    queueArn: await queueArn(queue.QueueUrl!),
    dlqUrl: dlq.QueueUrl!,
    dlqArn,
  };
};

/** One Lambda-style poll: receive, run the batch runner, delete what succeeded. */
const pollOnce = async (
  queueUrl: string,
  arn: string,
  fifo: boolean,
  handle: (body: string) => Promise<void>,
): Promise<{ received: number; failed: string[] }> => {
  const { sqs } = clients();
  // One ReceiveMessage, as the Lambda poller makes; a failed message shows again after 1 s.
  const { Messages: messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 2,
      VisibilityTimeout: 1,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  const records = messages.map((message) => toRecord(message, arn));
  const { batchItemFailures } = await processSqsRecords(records, (record) => handle(record.body), { fifo });
  const failed = new Set(batchItemFailures.map((failure) => failure.itemIdentifier));
  const done = records.filter((record) => !failed.has(record.messageId));
  if (done.length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: done.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
      }),
    );
  }
  return {
    received: messages.length,
    failed: records.filter((r) => failed.has(r.messageId)).map((r) => r.body),
  };
};

describe('processSqsRecords', () => {
  it('on a FIFO batch, fails the first failing record and every record after it', async () => {
    // GIVEN three messages in one FIFO group
    const { sqs } = clients();
    const { queueUrl, queueArn: arn } = await queueWithDlq({ fifo: true, maxReceiveCount: 5 });
    for (const body of ['a', 'b', 'c']) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: 'g' }));
    }
    const seen: string[] = [];

    // WHEN the handler fails on the second
    const result = await pollOnce(queueUrl, arn, true, async (body) => {
      seen.push(body);
      if (body === 'b') throw new Error('boom');
    });

    // THEN b and c are reported failed and c was never handled
    expect(result.received).toBe(3);
    expect(result.failed).toEqual(['b', 'c']);
    expect(seen).toEqual(['a', 'b']);
  });

  it('on a standard batch, reports only the records that failed', async () => {
    // GIVEN three messages on a standard queue
    const { sqs } = clients();
    const { queueUrl, queueArn: arn } = await queueWithDlq({ fifo: false, maxReceiveCount: 5 });
    for (const body of ['a', 'b', 'c'])
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));

    // WHEN the handler fails on b
    const result = await pollOnce(queueUrl, arn, false, async (body) => {
      if (body === 'b') throw new Error('boom');
    });

    // THEN only b is reported
    expect(result.received).toBe(3);
    expect(result.failed).toEqual(['b']);
  });
});

describe('SQS dead-letter queue', () => {
  it('parks a message that failed maxReceiveCount times, and a redrive brings it back', async () => {
    // GIVEN a queue whose DLQ takes a message after 2 receives, and one poison message
    const { sqs } = clients();
    const {
      queueUrl,
      queueArn: arn,
      dlqUrl,
      dlqArn,
    } = await queueWithDlq({ fifo: false, maxReceiveCount: 2 });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'poison' }));
    const failing = async () => {
      throw new Error('cannot handle this');
    };

    // WHEN a consumer fails it on every delivery until the source queue is empty
    let deliveries = 0;
    for (let poll = 0; poll < 6; poll++) {
      const { received } = await pollOnce(queueUrl, arn, false, failing);
      deliveries += received;
      if (deliveries >= 2 && received === 0) break;
    }

    // THEN it was delivered exactly twice and now sits in the DLQ
    expect(deliveries).toBe(2);
    const parked = await receive(sqs, dlqUrl, {
      count: 1,
      timeoutMs: 5_000,
      keep: true,
      visibilityTimeout: 0,
    });
    expect(parked.map((message) => message.Body)).toEqual(['poison']);

    // WHEN the DLQ is redriven to its source (the console's "start DLQ redrive")
    const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    expect(TaskHandle).toBeTruthy();

    // THEN the message is back on the source queue and handled by a healthy consumer
    const handled: string[] = [];
    for (let poll = 0; poll < 10 && handled.length === 0; poll++) {
      await pollOnce(queueUrl, arn, false, async (body) => {
        handled.push(body);
      });
    }
    expect(handled).toEqual(['poison']);
    const tasks = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }));
    expect(tasks.Results?.[0]?.Status).toBe('COMPLETED');
  });
});
