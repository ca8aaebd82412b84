/**
 * One failure rule in every host: the same report handler, built by createPipeline, on in-process
 * queues (sluice dev) and on SQS (the Lambdas, sluice dev --aws) on the emulator.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueueWithDlq } from '../../shared/adapters/aws/pipeline-resources.ts';
import { DEAD_LETTER_REASON_ATTRIBUTE, SqsDeadLetters } from '../../shared/adapters/aws/sqs-dead-letters.ts';
import { localDeadLetters } from '../../shared/adapters/local/dead-letters.ts';
import { localContext } from '../../shared/adapters/local/event-source.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { LocalQueue } from '../../shared/adapters/local/queue.ts';
import type { DeadLetters, Ledger } from '../../shared/ports/index.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { clients, receive, toRecord, uniqueName } from './support.ts';

/** A Deployment Succeeded envelope, as the report rule delivers it. */
const outcome = (commit: string) =>
  JSON.stringify({
    version: '0',
    id: commit,
    'detail-type': 'Deployment Succeeded',
    source: 'sluice',
    time: '2026-01-01T00:00:00Z',
    resources: [],
    detail: {
      schemaVersion: 1,
      traceId: 'trace-0001',
      repo: 'acme/fleet',
      branch: 'main',
      commit,
      generation: 1,
      app: 'web',
      target: 'prod',
      digest: `sha256:${'a'.repeat(64)}`,
      occurredAt: '2026-01-01T00:00:00Z',
      applied: 1,
      unchanged: 0,
      pruned: 0,
      durationMs: 5,
    },
  });

/** A ledger whose reads fail the way nobody planned for (not a SluiceError). */
const brokenLedger = (ledger: Ledger): Ledger => ({
  ...ledger,
  getDeployment: async () => {
    throw new Error('the disk said no');
  },
  recordDeployment: (update) => ledger.recordDeployment(update),
  listDeployments: () => ledger.listDeployments(),
  getBranch: (repo, branch) => ledger.getBranch(repo, branch),
  putBranch: (state, version) => ledger.putBranch(state, version),
});

interface Host {
  readonly deadLetters: DeadLetters;
  /** One record per body, as the host's queue hands them out. */
  deliver(bodies: readonly string[]): Promise<SQSRecord[]>;
  /** The bodies and reasons now in the dead-letter queue. */
  parked(): Promise<{ body: string; reason: string }[]>;
}

/** What the report handler does with one bad body and one body whose processing hits an unexpected error. */
const scenario = async (host: Host, ledgerDir: string) => {
  const handler = createPipeline(
    {
      clock: systemClock,
      ledger: brokenLedger(new FileLedger(join(ledgerDir, 'ledger.json'))),
      deadLetters: host.deadLetters,
    },
    { metricsSink: () => undefined },
  ).handler('report');
  const records = await host.deliver(['{"not": "an envelope"', outcome('b'.repeat(40))]);
  const response = await handler({ Records: records }, localContext('report'));
  const failed = (response?.batchItemFailures ?? []).map((f) =>
    records.findIndex((r) => r.messageId === f.itemIdentifier),
  );
  return { failed, parked: await host.parked() };
};

describe('the failure rule, in process and on SQS', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-failure-rule-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parks bad input at once and leaves an unexpected error to the retries, in both hosts alike', async () => {
    // GIVEN the in-process host: a local queue with its dead-letter queue
    const dlq = new LocalQueue({ name: 'sluice-report-dlq' });
    const queue = new LocalQueue({ name: 'sluice-report', deadLetter: { queue: dlq, maxReceiveCount: 5 } });
    const local: Host = {
      deadLetters: localDeadLetters(new Map([[queue.name, queue]])),
      async deliver(bodies) {
        queue.send(bodies.map((body) => ({ body })));
        return queue.receive(10).map(
          (m) =>
            ({
              messageId: m.messageId,
              receiptHandle: m.receiptHandle!,
              body: m.body,
              attributes: {},
              eventSourceARN: `arn:aws:sqs:local:000000000000:${queue.name}`,
            }) as unknown as SQSRecord,
        );
      },
      async parked() {
        return dlq.peek().map((m) => ({ body: m.body, reason: String(m.attributes.deadLetterReason) }));
      },
    };
    // AND the SQS host on the emulator: a queue and its dead-letter queue as the stack creates them
    const { sqs } = clients();
    const created = await createQueueWithDlq(sqs, uniqueName('rule'), 'report');
    const onSqs: Host = {
      deadLetters: new SqsDeadLetters({ queueUrlFor: () => created.deadLetterUrl, client: sqs }),
      async deliver(bodies) {
        for (const body of bodies)
          await sqs.send(new SendMessageCommand({ QueueUrl: created.url, MessageBody: body }));
        const messages = await receive(sqs, created.url, { count: bodies.length, keep: true });
        // In the order sent, as the local queue hands them out.
        return bodies.map((body) => toRecord(messages.find((m) => m.Body === body)!, created.arn));
      },
      async parked() {
        const messages = await receive(sqs, created.deadLetterUrl, { count: 1, timeoutMs: 5_000 });
        return messages.map((m) => ({
          body: m.Body ?? '',
          reason: m.MessageAttributes?.[DEAD_LETTER_REASON_ATTRIBUTE]?.StringValue ?? '',
        }));
      },
    };

    // WHEN each host's report handler gets a body that is not an envelope and an outcome whose ledger read fails
    const inProcess = await scenario(local, join(dir, 'local'));
    const deployed = await scenario(onSqs, join(dir, 'sqs'));

    // THEN both park the bad body at once with its reason, and report only the unexpected failure for a retry
    for (const outcome of [inProcess, deployed]) {
      expect(outcome.failed).toEqual([1]);
      expect(outcome.parked).toHaveLength(1);
      expect(outcome.parked[0]!.body).toBe('{"not": "an envelope"');
      expect(outcome.parked[0]!.reason).toMatch(/not JSON/);
    }
    // (the reasons name each host's own message id)
    expect(deployed.parked.map((p) => p.body)).toEqual(inProcess.parked.map((p) => p.body));
  }, 60_000);
});
