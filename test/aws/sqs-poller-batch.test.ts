/**
 * The event-source loop in batching mode (the record function's RECORD_BATCH in `sluice dev --aws`):
 * what arrives within the window is handed over as one batch, as Lambda's batching window does, and
 * only the messages the handler names as failed stay on the queue.
 */
import { CreateQueueCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { pollQueue } from '../../shared/adapters/aws/sqs-poller.ts';
import { clients, receive, uniqueName } from './support.ts';

describe('pollQueue in batches', () => {
  it('hands over what arrived within the window together and keeps only the failed messages', async () => {
    // GIVEN 25 messages on a queue
    const { sqs } = clients();
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('batch') }));
    for (let i = 0; i < 25; i += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: Array.from({ length: Math.min(10, 25 - i) }, (_, n) => ({
            Id: String(n),
            MessageBody: `m${i + n}`,
          })),
        }),
      );
    }

    // WHEN the loop runs with a 2 s window, a handler failing m3 and m17
    const batches: SQSRecord[][] = [];
    const stop = new AbortController();
    const loop = pollQueue({
      queueUrl: QueueUrl!,
      sqs,
      signal: stop.signal,
      visibilityTimeout: 1,
      batch: {
        size: 100,
        windowMs: 2000,
        handle: async (records) => {
          batches.push(records);
          return records.filter((r) => r.body === 'm3' || r.body === 'm17').map((r) => r.messageId);
        },
      },
    });
    for (let i = 0; i < 100 && batches.length === 0; i += 1) await new Promise((ok) => setTimeout(ok, 100));
    stop.abort();
    await loop;

    // THEN the 25 came in one batch
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((r) => r.body).sort()).toEqual(
      Array.from({ length: 25 }, (_, i) => `m${i}`).sort(),
    );
    // AND only the two failed ones come back once their visibility lapses (the loop's long poll,
    // abandoned at abort, may still take them once on the emulator: allow two lapses)
    const left = await receive(sqs, QueueUrl!, { count: 3, timeoutMs: 20_000 });
    expect(left.map((m) => m.Body).sort()).toEqual(['m17', 'm3']);
  });
});
