import { CreateQueueCommand, DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { SqsPlanIntake } from '../../shared/adapters/aws/sqs-plan-intake.ts';
import { planGroupId } from '../../shared/routing.ts';
import { busEvent } from '../../shared/runtime/sqs-handler.ts';
import type { CommitPushed } from '../../shared/schemas/events.ts';
import { aws, clients, receive, sha, toRecord, uniqueName } from './support.ts';

const push = (branch: string, n: number): { detail: CommitPushed; deduplicationId: string } => ({
  deduplicationId: `github:delivery-${branch}-${n}#${branch}`,
  detail: {
    schemaVersion: 1,
    traceId: `trace-${branch}-${n}`,
    repo: 'acme/fleet',
    branch,
    commit: sha(n + 1),
    before: sha(n),
    occurredAt: '2026-01-01T00:00:00.000Z',
    receivedAt: '2026-01-01T00:00:00.000Z',
    deliveryId: `delivery-${branch}-${n}`,
    provider: 'github',
    repoUrl: 'https://git.example.com/acme/fleet.git',
    ref: `refs/heads/${branch}`,
    forced: false,
    deleted: false,
  },
});

/** A plan queue as the management stack makes it: FIFO, content-based dedup as the fallback. */
const planQueue = async (): Promise<string> => {
  const { QueueUrl } = await clients().sqs.send(
    new CreateQueueCommand({
      QueueName: `${uniqueName('plan')}.fifo`,
      Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' },
    }),
  );
  return QueueUrl!;
};

describe('SqsPlanIntake (ingest → plan FIFO queue)', () => {
  it('groups pushes per repo+branch: one branch in flight does not hold up another', async () => {
    // GIVEN the plan queue and two pushes to main, one to release
    const queueUrl = await planQueue();
    const { sqs } = clients();
    const intake = new SqsPlanIntake({ queueUrl, aws: aws() });
    await intake.submit([push('main', 1), push('main', 2), push('release', 1)]);

    // WHEN the planner takes main's first push and is still working on it
    const [first] = await receive(sqs, queueUrl, { count: 1, keep: true });
    // THEN the next receive hands out release's push, not main's second (main's group is busy)
    const [second] = await receive(sqs, queueUrl, { count: 1, keep: true });
    const groupOf = (m: typeof first) => m?.Attributes?.MessageGroupId;
    expect(groupOf(first)).toBe(planGroupId({ repo: 'acme/fleet', branch: 'main' }));
    expect(groupOf(second)).toBe(planGroupId({ repo: 'acme/fleet', branch: 'release' }));
    // AND once main's first push is done, main's second follows, in order
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first!.ReceiptHandle! }));
    const [third] = await receive(sqs, queueUrl, { count: 1, keep: true });
    expect(JSON.parse(third!.Body!).detail.deliveryId).toBe('delivery-main-2');
  });

  it('drops a redelivered webhook and sends a body the plan function parses', async () => {
    // GIVEN the plan queue
    const queueUrl = await planQueue();
    const intake = new SqsPlanIntake({ queueUrl, aws: aws() });
    // WHEN the same delivery is submitted twice (the provider redelivered it)
    await intake.submit([push('main', 7)]);
    await intake.submit([push('main', 7)]);
    // THEN the queue holds it once
    const messages = await receive(clients().sqs, queueUrl, { count: 2, timeoutMs: 3_000 });
    expect(messages).toHaveLength(1);
    // AND the plan function's parser reads it as the Commit Pushed that was sent
    const parsed = busEvent('Commit Pushed')(toRecord(messages[0]!, 'arn:aws:sqs:us-east-1:0:plan.fifo'));
    expect(parsed.detail).toEqual(push('main', 7).detail);
  });
});
