import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configMap, smallRepo } from '../../bench/lib/fixtures.ts';
import { type Fleet, startFleet, until } from '../../bench/lib/fleet.ts';
import { LocalQueue, type SendInput } from '../../shared/adapters/local/queue.ts';
import type { Envelope } from '../../shared/schemas/events.ts';
import { convergedToHeads, inventoryOf, sluiceStatus } from './support.ts';

/** A small seeded generator, so a failure replays the same shuffle. */
const random = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
  return seed / 0x7fffffff;
};

/**
 * Every queue of the pipeline (not the dead-letter queues) delivers every message twice, each copy
 * after its own random delay of up to 250 ms: duplicates and reordering as SQS standard queues and
 * EventBridge retries produce them. The copies get their own deduplication ids, so FIFO
 * deduplication does not hide them. Returns how many copies are still waiting to be sent.
 */
const duplicateAndShuffle = (seed: number): { pending: () => number; restore: () => void } => {
  const original = LocalQueue.prototype.send;
  const next = random(seed);
  let pending = 0;
  let copy = 0;
  LocalQueue.prototype.send = function (this: LocalQueue, inputs: readonly SendInput[]) {
    if (this.name.includes('-dlq')) return original.call(this, inputs);
    for (const input of inputs) {
      for (const n of [1, 2]) {
        pending += 1;
        setTimeout(
          () => {
            pending -= 1;
            original.call(this, [
              { ...input, ...(n === 2 || this.fifo ? { dedupId: `copy-${copy++}` } : {}) },
            ]);
          },
          Math.floor(next() * 250),
        );
      }
    }
    return [];
  };
  return {
    pending: () => pending,
    restore: () => {
      LocalQueue.prototype.send = original;
    },
  };
};

const REPOS = ['r0', 'r1', 'r2'];
const PUSHES = 8;

describe('duplicated and reordered delivery', () => {
  let fleet: Fleet;
  let chaos: ReturnType<typeof duplicateAndShuffle>;
  const applied: Envelope[] = [];
  const generations = new Map<string, number[]>();

  beforeAll(async () => {
    chaos = duplicateAndShuffle(Number(process.env.SLUICE_CHAOS_SEED ?? 20_240_611));
    fleet = await startFleet({
      repos: Object.fromEntries(REPOS.map((r, i) => [r, smallRepo(i)])),
      coalesceMs: 0,
      retryDelayMs: 50,
      onEvent: (e) => {
        if (e['detail-type'] !== 'Deployment Succeeded') return;
        applied.push(e);
        const d = e.detail as { app: string; target: string; generation: number; applied: number };
        if (d.applied > 0)
          generations.set(`${d.app}@${d.target}`, [
            ...(generations.get(`${d.app}@${d.target}`) ?? []),
            d.generation,
          ]);
      },
    });
  });
  afterAll(async () => {
    chaos.restore();
    await fleet?.stop();
  });

  it('never moves a target backwards, changes nothing twice, and ends at every head', async () => {
    // GIVEN three repos, and queues that deliver every message twice in a shuffled order
    // WHEN eight pushes land on each repo, some back to back and some after a pause
    for (let n = 1; n <= PUSHES; n++) {
      await Promise.all(
        REPOS.map((repo, i) =>
          fleet.commit(repo, { [`apps/app-${i}/configmap.yaml`]: configMap(`app-${i}`, `v${n}`) }),
        ),
      );
      if (n % 3 === 0) await new Promise((r) => setTimeout(r, 300));
    }
    await until('every copy to be sent', () => (chaos.pending() === 0 ? true : undefined), 20_000);
    await convergedToHeads(fleet, { r0: 2, r1: 2, r2: 2 });
    await until('every copy to be sent', () => (chaos.pending() === 0 ? true : undefined), 20_000);
    await fleet.pipeline.idle();

    // THEN every target's applied inventory is its branch head, and `sluice status` agrees
    for (const [i, repo] of REPOS.entries()) {
      const head = await fleet.head(repo);
      for (const target of [`r${i}-t0`, `r${i}-t1`]) {
        expect((await inventoryOf(fleet, target, `app-${i}`))?.commit).toBe(head);
      }
    }
    const status = await sluiceStatus(fleet);
    expect(status).toHaveLength(6);
    expect(status.every((d) => d.state === 'Healthy')).toBe(true);
    // AND per (app, target), the generations that changed something strictly increase: no target
    // ever went backwards, and no generation was applied twice (the agent serialises per app)
    expect(generations.size).toBe(6);
    for (const [key, gens] of generations) {
      expect({ key, gens }).toEqual({ key, gens: [...new Set(gens)].sort((a, b) => a - b) });
    }
    // AND the ledger's history never moved a target to an older generation
    for (const record of await fleet.pipeline.ledger.listDeployments()) {
      const seen = record.history.map((h) => h.generation);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
    }
    // AND the duplicates really were delivered: more outcomes arrived than effective applies
    expect(applied.length).toBeGreaterThan([...generations.values()].flat().length);
    // AND nothing ended in a dead-letter queue
    expect([...fleet.pipeline.deadLetters.values()].map((q) => q.depth)).toEqual(
      [...fleet.pipeline.deadLetters.values()].map(() => 0),
    );
  });
});
