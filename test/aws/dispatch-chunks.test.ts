/**
 * The chunks of a split bundle on a real SQS queue (LocalStack): SqsDispatchChunkQueue sends each
 * chunk as its own message, in SendMessageBatch calls that stay under SQS's size limit, and every
 * body is one the dispatch stage parses back into its chunk.
 */
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { SqsDispatchChunkQueue } from '../../shared/adapters/aws/sqs-dispatch-chunks.ts';
import { DISPATCH_CHUNK_KIND, dispatchChunk } from '../../shared/schemas/dispatch-chunk.ts';
import { clients, receive, sha, uniqueName } from './support.ts';

const verified = (targets: number, from: number) => ({
  schemaVersion: 1 as const,
  traceId: 'trace-chunks-0001',
  repo: 'acme/fleet',
  branch: 'main',
  commit: sha(1),
  occurredAt: '2026-01-01T00:00:00.000Z',
  generation: 1,
  app: 'edge',
  bundle: { key: `bundles/${'a'.repeat(64)}.json`, digest: `sha256:${'a'.repeat(64)}`, size: 10, objects: 1 },
  targets: Array.from({ length: targets }, (_, i) => ({
    name: `edge-${String(from + i).padStart(5, '0')}`,
    cloud: 'aws',
    region: 'eu-west-1',
    agent: 'lambda' as const,
  })),
  sync: { prune: true, selfHeal: false },
  cached: false,
});

describe('SqsDispatchChunkQueue (LocalStack SQS)', () => {
  it('sends 12 chunks of 250 targets as 12 messages the dispatch stage parses back', async () => {
    // GIVEN the dispatch queue (standard, as the management stack makes it)
    const { sqs } = clients();
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('dispatch') })))
      .QueueUrl!;
    const chunks = Array.from({ length: 12 }, (_, index) => ({
      verified: verified(250, index * 250),
      index,
      count: 12,
      total: 3_000,
    }));

    // WHEN a 3,000-target bundle's 12 chunks are sent (about 30 KB each: more than one batch)
    await new SqsDispatchChunkQueue({ queueUrl, client: sqs }).send(chunks);

    // THEN each chunk is one message, and each parses into the chunk that was sent
    const received = await receive(sqs, queueUrl, { count: 13, timeoutMs: 5_000 });
    expect(received).toHaveLength(12);
    const parsed = received
      .map((m) => JSON.parse(m.Body ?? '') as { kind: string; chunk: unknown })
      .map((body) => {
        expect(body.kind).toBe(DISPATCH_CHUNK_KIND);
        return dispatchChunk.parse(body.chunk);
      })
      .sort((a, b) => a.index - b.index);
    expect(parsed).toEqual(chunks);
  });
});
