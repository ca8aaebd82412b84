/**
 * A throttled authenticated push schedules a branch check (docs/operate.md#recovery-reconcile):
 * ingest answers 429 and sends Reconcile Requested for the repo to the reconcile queue on LocalStack,
 * delayed by the retry-after, so the head is still planned if the provider never redelivers.
 */
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { SqsReconcileTrigger } from '../../shared/adapters/aws/sqs-reconcile-trigger.ts';
import { MemoryIdempotencyStore } from '../../shared/adapters/local/memory.ts';
import { githubPushPayload } from '../../shared/adapters/local/push-webhook.ts';
import { ingestWebhook } from '../../shared/core/ingest.ts';
import { TokenBucketLimiter } from '../../shared/core/webhooks/rate-limit.ts';
import { signGithub } from '../../shared/core/webhooks/signature.ts';
import { reconcileRequest, recordedEnvelope } from '../../shared/runtime/operate-stages.ts';
import { aws, clients, receive, uniqueName } from './support.ts';

const SECRET = 'throttle-secret';
const NOW = new Date('2026-01-02T03:04:05.000Z');
const clock = { now: () => NOW };

const push = (delivery: string, after: string) => {
  const body = new TextEncoder().encode(
    JSON.stringify(
      githubPushPayload({
        repo: 'acme/fleet',
        cloneUrl: 'https://github.com/acme/fleet.git',
        ref: 'refs/heads/main',
        before: 'a'.repeat(40),
        after,
        message: 'deploy',
        pusher: 'ana',
      }),
    ),
  );
  return {
    provider: 'github',
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': delivery,
      'x-hub-signature-256': signGithub(SECRET, body),
    },
  };
};

describe('ingest under its rate limit', () => {
  let queueUrl: string;
  beforeAll(async () => {
    const { sqs } = clients();
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('reconcile') }))).QueueUrl!;
  });

  it('answers a throttled push 429 and schedules a delayed check of its repo', async () => {
    // GIVEN an ingest allowing one delivery per repo, with the reconcile queue as its trigger
    const published: unknown[] = [];
    const deps = {
      bus: { publish: async (events: readonly unknown[]) => void published.push(...events) },
      deliveries: new MemoryIdempotencyStore(),
      clock,
      webhookSecrets: async () => [SECRET],
      newTraceId: () => crypto.randomUUID(),
      rateLimiter: new TokenBucketLimiter({ burst: 1, perMinute: 6, clock }),
      reconcile: new SqsReconcileTrigger({ queueUrl, aws: aws() }),
    };
    // WHEN two pushes arrive at once
    const first = await ingestWebhook(deps, push('d-1', 'b'.repeat(40)));
    const second = await ingestWebhook(deps, push('d-2', 'c'.repeat(40)));
    // THEN the first is accepted and the second throttled with a retry-after
    expect(first.status).toBe(202);
    expect(second.status).toBe(429);
    const delay = Number(second.headers?.['retry-after']);
    expect(delay).toBeGreaterThan(0);
    // AND one Reconcile Requested for acme/fleet waits on the reconcile queue, delayed
    const { sqs } = clients();
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessagesDelayed'],
      }),
    );
    expect(Attributes?.ApproximateNumberOfMessagesDelayed).toBe('1');
    const [message] = await receive(sqs, queueUrl, { count: 1, timeoutMs: (delay + 10) * 1000 });
    const record = { messageId: message?.MessageId ?? '', body: message?.Body ?? '' };
    expect(reconcileRequest(record)).toEqual({
      schemaVersion: 1,
      requestedBy: 'throttled-push',
      repo: 'acme/fleet',
    });
    // AND the record function would keep nothing of it (no trace), while it parses as a sluice envelope
    expect(recordedEnvelope(record)['detail-type']).toBe('Reconcile Requested');
  }, 60_000);
});
