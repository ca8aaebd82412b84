/**
 * Chunked dispatch (shared/core/dispatch.ts): a bundle for 1,000 targets through the pipeline's
 * own dispatch handler, fed by an in-process queue with SQS semantics one message per invocation
 * (as the deployed function's batch size), handing over to FIFO agent queues that deduplicate as
 * SQS FIFO does.
 */
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { LocalAgentDispatcher } from '../../shared/adapters/local/agent-dispatcher.ts';
import { localDeadLetters } from '../../shared/adapters/local/dead-letters.ts';
import { type SqsHandler, startConsumer } from '../../shared/adapters/local/event-source.ts';
import { LocalQueue } from '../../shared/adapters/local/queue.ts';
import { recordOutcome } from '../../shared/core/report.ts';
import { dependencyWaves, rolloutLedger, startRollout } from '../../shared/core/rollout.ts';
import type { AgentDispatcher, RolloutTimer, RolloutWake } from '../../shared/ports/index.ts';
import { agentQueueName } from '../../shared/routing.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import {
  DISPATCH_CHUNK_KIND,
  type DispatchChunkMessage,
  dispatchChunkBody,
} from '../../shared/schemas/dispatch-chunk.ts';
import type { ApplyRequested, TargetRef } from '../../shared/schemas/events.ts';
import { bundleVerified, inProcess, storeBundle, succeeded } from './core-fixtures.ts';

const REGIONS = ['r1', 'r2', 'r3', 'r4'];
const TARGETS = 1_000;
const names = Array.from({ length: TARGETS }, (_, i) => `t${String(i).padStart(4, '0')}`);
const regionOf = (name: string) => REGIONS[Number(name.slice(1)) % REGIONS.length]!;

/** The pipeline's dispatch stage on in-process queues; `agents` may wrap the real dispatcher. */
const chunkedDispatch = async (
  wrap: (real: AgentDispatcher) => AgentDispatcher = (a) => a,
  rolloutTimer?: RolloutTimer,
) => {
  const env = await inProcess();
  const queues = new Map<string, LocalQueue>();
  const queue = (name: string, fifo: boolean) => {
    const q = new LocalQueue({ name, fifo, contentBasedDeduplication: fifo });
    queues.set(name, q);
    return q;
  };
  const dispatchQueue = queue('sluice-dispatch', false);
  const agentQueues = new Map(REGIONS.map((r) => [r, queue(agentQueueName(r), true)]));
  const agents = wrap(new LocalAgentDispatcher((t: TargetRef) => agentQueues.get(t.region)!));
  const pipeline = createPipeline(
    {
      clock: env.clock,
      bus: env.bus,
      ledger: env.ledger,
      agents,
      deadLetters: localDeadLetters(queues),
      ...(rolloutTimer ? { rolloutTimer } : {}),
      dispatchChunks: {
        send: async (chunks) => {
          dispatchQueue.send(chunks.map((chunk) => ({ body: dispatchChunkBody(chunk) })));
        },
      },
    },
    { signing: 'off', metricsSink: () => undefined },
  );
  // What each invocation was given: the records of one handler call.
  const invocations: SQSRecord[][] = [];
  const handler = pipeline.handler('dispatch');
  const observed: SqsHandler = (event, context) => {
    invocations.push(event.Records);
    return handler(event, context);
  };
  const consumer = startConsumer(dispatchQueue, observed, { batchSize: 1, concurrency: 4, retryDelayMs: 5 });
  env.bus.addRule({
    name: 'to-dispatch',
    detailTypes: ['Bundle Verified'],
    deliver: (envelope) => dispatchQueue.send([{ body: JSON.stringify(envelope) }]),
  });
  const idle = async () => {
    for (let i = 0; i < 2_000 && (dispatchQueue.depth > 0 || consumer.busy > 0); i++) {
      await dispatchQueue.waitForChange(10);
    }
    expect(dispatchQueue.depth).toBe(0);
  };
  const bundle = await storeBundle(env.bundles, 'v1', 'x');
  const verified = {
    ...bundleVerified(1, bundle, names),
    targets: names.map((name) => ({
      name,
      cloud: 'onprem',
      region: regionOf(name),
      agent: 'in-cluster' as const,
    })),
  };
  /** Every Apply Requested in the agent queues (what the agents would receive), by target. */
  const delivered = () =>
    [...agentQueues.values()].flatMap((q) =>
      q.peek().map((m) => (JSON.parse(m.body) as ApplyRequested).target.name),
    );
  const chunks = () =>
    invocations
      .flat()
      .map((r) => JSON.parse(r.body) as { kind?: string; chunk?: DispatchChunkMessage })
      .filter((b) => b.kind === DISPATCH_CHUNK_KIND)
      .map((b) => b.chunk!);
  return { env, verified, invocations, dispatchQueue, idle, delivered, chunks, stop: () => consumer.stop() };
};

const countBy = (values: readonly string[]) => {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
};

describe('chunked dispatch', () => {
  it('splits a 1,000-target bundle into chunks of 250, one invocation each, one Apply Requested per target', async () => {
    // GIVEN the dispatch stage on its queue, and a verified bundle for 1,000 targets in 4 regions
    const run = await chunkedDispatch();

    // WHEN the bundle is verified
    await run.env.bus.publish([{ detailType: 'Bundle Verified', detail: run.verified }]);
    await run.idle();
    await run.stop();

    // THEN one invocation split it, and each of 4 chunks of 250 was an invocation of its own
    expect(run.invocations.map((records) => records.length)).toEqual([1, 1, 1, 1, 1]);
    const chunks = run.chunks();
    expect(chunks.map((c) => [c.index, c.count, c.total, c.verified.targets.length])).toEqual([
      [0, 4, 1000, 250],
      [1, 4, 1000, 250],
      [2, 4, 1000, 250],
      [3, 4, 1000, 250],
    ]);
    // Each chunk holds one region's targets: its hand-offs batch into one agent queue.
    expect(chunks.map((c) => new Set(c.verified.targets.map((t) => t.region)).size)).toEqual([1, 1, 1, 1]);
    // Every target got exactly one Apply Requested, on the bus and in its region's agent queue,
    // after the ledger said Pending
    const published = countBy(
      run.env.published('Apply Requested').map((e) => (e.detail as ApplyRequested).target.name),
    );
    expect(published.size).toBe(TARGETS);
    expect([...published.values()].every((n) => n === 1)).toBe(true);
    expect([...countBy(run.delivered()).entries()].sort()).toEqual(names.map((n) => [n, 1]));
    const ledger = await run.env.ledger.listDeployments();
    expect(ledger).toHaveLength(TARGETS);
    expect(ledger.every((r) => r.state === 'Pending' && r.generation === 1)).toBe(true);
  });

  it('sends nothing twice when a chunk is delivered again, before or after its agents answered', async () => {
    // GIVEN a 1,000-target bundle dispatched in chunks
    const run = await chunkedDispatch();
    await run.env.bus.publish([{ detailType: 'Bundle Verified', detail: run.verified }]);
    await run.idle();
    const [first] = run.chunks();
    const published = () => run.env.published('Apply Requested').length;

    // WHEN its first chunk is delivered again while its targets are still Pending
    run.dispatchQueue.send([{ body: dispatchChunkBody(first) }]);
    await run.idle();

    // THEN the agent queues still hold one request per target (same deduplication ids)
    expect(run.delivered()).toHaveLength(TARGETS);
    expect(new Set(run.delivered()).size).toBe(TARGETS);

    // WHEN the chunk's agents have answered Healthy and the chunk comes a third time
    for (const e of run.env.published('Apply Requested')) {
      const request = e.detail as ApplyRequested;
      if (!first!.verified.targets.some((t) => t.name === request.target.name)) continue;
      await recordOutcome(run.env, { kind: 'succeeded', detail: succeeded(request, run.env.clock.iso()) });
    }
    const before = published();
    run.dispatchQueue.send([{ body: dispatchChunkBody(first) }]);
    await run.idle();
    await run.stop();

    // THEN nothing is handed over at all: every one of its targets already took this release
    expect(published()).toBe(before);
    expect(run.delivered()).toHaveLength(TARGETS);
    const healthy = (await run.env.ledger.listDeployments()).filter((r) => r.state === 'Healthy');
    expect(healthy).toHaveLength(250);
  });

  it('holds a rolled-out bundle of 1,000 targets whole for its rollout: nothing split, nothing sent', async () => {
    // GIVEN an app rolled out in waves (here: held for its dependencies) at generation 1. The timer
    // only records the wakes (the rollout stage is not under test).
    const wakes: RolloutWake[] = [];
    const run = await chunkedDispatch(undefined, { schedule: async (w) => void wakes.push(w) });
    await startRollout(run.env, {
      repo: 'acme/fleet',
      branch: 'main',
      app: 'web',
      commit: run.verified.commit,
      generation: 1,
      traceId: run.verified.traceId,
      waves: dependencyWaves(names),
    });

    // WHEN its 1,000-target bundle is verified
    await run.env.bus.publish([{ detailType: 'Bundle Verified', detail: run.verified }]);
    await run.idle();
    await run.stop();

    // THEN the one invocation held every request in the rollout record and woke the rollout; no
    // chunk was queued and no agent was sent anything
    expect(run.invocations).toHaveLength(1);
    expect(run.chunks()).toEqual([]);
    expect(run.delivered()).toEqual([]);
    const rollout = await rolloutLedger(run.env.ledger)!.getRollout('acme/fleet', 'main', 'web');
    expect(Object.keys(rollout?.held ?? {}).sort()).toEqual(names);
    expect(wakes).toHaveLength(1);
  });

  it('resumes a chunk that failed half-way: every target handed over once, none skipped', async () => {
    // GIVEN an agent queue that fails once after 120 hand-offs (a crash mid-chunk: a real queue
    // cannot be made to fail at a chosen message, so this one fault is injected)
    let handed = 0;
    let failed = false;
    const run = await chunkedDispatch((real) => ({
      send: (t, m) => real.send(t, m),
      sendMany: async (messages) => {
        if (!failed && handed + messages.length > 120) {
          failed = true;
          throw new Error('injected: agent queue unavailable');
        }
        handed += messages.length;
        await real.sendMany!(messages);
      },
    }));

    // WHEN the bundle is dispatched (the failed chunk is redelivered by its queue)
    await run.env.bus.publish([{ detailType: 'Bundle Verified', detail: run.verified }]);
    await run.idle();
    await run.stop();

    // THEN the fault happened, and still every target is in its agent queue exactly once
    expect(failed).toBe(true);
    expect([...countBy(run.delivered()).entries()].sort()).toEqual(names.map((n) => [n, 1]));
  });
});
