/**
 * What the cores rely on from every Ledger (plan, dispatch, report, rollback): branch state under
 * optimistic concurrency, and deployment records that only move forward, keep their history in
 * order and keep the last known good from Healthy releases only.
 */
import { describe, expect, it } from 'vitest';
import type { DeploymentState, DeploymentUpdate, Ledger } from '../../shared/ports/index.ts';
import { digestOf, rejectionOf, sha } from './support.ts';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();

const update = (
  generation: number,
  state: DeploymentState,
  overrides: Partial<DeploymentUpdate> = {},
): DeploymentUpdate => ({
  app: 'web',
  target: 'prod-use1',
  repo: 'acme/fleet',
  branch: 'main',
  commit: sha(generation),
  generation,
  digest: digestOf(generation),
  bundleKey: `bundles/${digestOf(generation).slice(7)}.json`,
  traceId: `trace-${generation}-0000`,
  state,
  at: at(generation),
  ...overrides,
});

const branch = (generation: number) => ({
  repo: 'acme/fleet',
  branch: 'main',
  lastPlanned: sha(generation),
  generation,
  plannedAt: at(generation),
});

/** `make` returns a fresh, empty ledger for each test. */
export const describeLedgerContract = (name: string, make: () => Promise<Ledger>) => {
  describe(`Ledger contract: ${name}`, () => {
    it('creates a branch state at version 1 and reads it back', async () => {
      // GIVEN an empty ledger
      const ledger = await make();
      expect(await ledger.getBranch('acme/fleet', 'main')).toBeUndefined();

      // WHEN a planner writes the first state, expecting none
      const written = await ledger.putBranch(branch(1), 0);

      // THEN it is version 1 and reads back the same
      expect(written).toEqual({ ...branch(1), version: 1 });
      expect(await ledger.getBranch('acme/fleet', 'main')).toEqual(written);
    });

    it('refuses a branch write from a stale version with a retryable CONFLICT, and keeps the stored state', async () => {
      // GIVEN a branch at version 2
      const ledger = await make();
      const v1 = await ledger.putBranch(branch(1), 0);
      const v2 = await ledger.putBranch(branch(2), v1.version);

      // WHEN a late planner writes over version 1, or creates the branch again
      const stale = await rejectionOf(ledger.putBranch(branch(3), v1.version));
      const recreate = await rejectionOf(ledger.putBranch(branch(3), 0));

      // THEN both get CONFLICT (retry after re-reading) and the state is still version 2
      expect(stale).toMatchObject({ code: 'CONFLICT', retryable: true });
      expect(recreate).toMatchObject({ code: 'CONFLICT', retryable: true });
      expect(await ledger.getBranch('acme/fleet', 'main')).toEqual(v2);
    });

    it('lets exactly one of several concurrent branch writers on one version win', async () => {
      // GIVEN a branch at version 1
      const ledger = await make();
      const v1 = await ledger.putBranch(branch(1), 0);

      // WHEN five planners write generation 2 at once, all expecting version 1
      const results = await Promise.allSettled(
        [0, 1, 2, 3, 4].map((n) => ledger.putBranch({ ...branch(2), lastPlanned: sha(100 + n) }, v1.version)),
      );

      // THEN one wins and the stored state is the winner's
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      expect(await ledger.getBranch('acme/fleet', 'main')).toEqual(
        (won[0] as PromiseFulfilledResult<unknown>).value,
      );
    });

    it('keeps branches of different repos and names apart', async () => {
      // GIVEN two branches whose names could collide if joined naively
      const ledger = await make();
      await ledger.putBranch({ ...branch(1), repo: 'acme/fleet', branch: 'feature/x' }, 0);
      await ledger.putBranch({ ...branch(2), repo: 'acme/fleet#feature', branch: 'x' }, 0);

      // WHEN each is read THEN each has its own state
      expect((await ledger.getBranch('acme/fleet', 'feature/x'))?.generation).toBe(1);
      expect((await ledger.getBranch('acme/fleet#feature', 'x'))?.generation).toBe(2);
      expect(await ledger.getBranch('acme/fleet', 'x')).toBeUndefined();
    });

    it('records a deployment and reads it back with its history', async () => {
      // GIVEN an empty ledger
      const ledger = await make();
      expect(await ledger.getDeployment('web', 'prod-use1')).toBeUndefined();

      // WHEN dispatch records Pending and report records Healthy
      await ledger.recordDeployment(update(1, 'Pending'));
      const healthy = await ledger.recordDeployment(update(1, 'Healthy', { at: at(30) }));

      // THEN the record is Healthy, its history is both steps oldest first, and it reads back the same
      expect(healthy).toMatchObject({ app: 'web', target: 'prod-use1', generation: 1, state: 'Healthy' });
      expect(healthy.history.map((h) => [h.state, h.generation])).toEqual([
        ['Pending', 1],
        ['Healthy', 1],
      ]);
      expect(await ledger.getDeployment('web', 'prod-use1')).toEqual(healthy);
    });

    it('ignores an update for an older generation: a late message never moves a target backwards', async () => {
      // GIVEN a target Healthy at generation 3
      const ledger = await make();
      await ledger.recordDeployment(update(3, 'Pending'));
      const current = await ledger.recordDeployment(update(3, 'Healthy'));

      // WHEN a late outcome of generation 2 arrives
      const after = await ledger.recordDeployment(update(2, 'Failed', { reason: 'late' }));

      // THEN the record is unchanged, and is returned as such
      expect(after).toEqual(current);
      expect(await ledger.getDeployment('web', 'prod-use1')).toEqual(current);
    });

    it('never moves a state back within a generation, and treats a repeat as a no-op', async () => {
      // GIVEN a target Healthy at generation 1
      const ledger = await make();
      await ledger.recordDeployment(update(1, 'Pending'));
      const healthy = await ledger.recordDeployment(update(1, 'Healthy'));

      // WHEN a redelivered Pending and a duplicate Healthy arrive
      await ledger.recordDeployment(update(1, 'Pending'));
      const repeat = await ledger.recordDeployment(update(1, 'Healthy'));

      // THEN nothing changed: same state, same history, same version
      expect(repeat).toEqual(healthy);
      expect(await ledger.getDeployment('web', 'prod-use1')).toEqual(healthy);
    });

    it('keeps the last known good from Healthy releases only', async () => {
      // GIVEN generation 1 Healthy
      const ledger = await make();
      await ledger.recordDeployment(update(1, 'Pending'));
      await ledger.recordDeployment(update(1, 'Healthy'));

      // WHEN generation 2 is dispatched and fails
      await ledger.recordDeployment(update(2, 'Pending'));
      const failed = await ledger.recordDeployment(update(2, 'Failed', { reason: 'HEALTH_DEADLINE: x' }));

      // THEN the last known good is still generation 1's release
      expect(failed.state).toBe('Failed');
      expect(failed.lastKnownGood).toEqual({
        commit: sha(1),
        digest: digestOf(1),
        bundleKey: update(1, 'Healthy').bundleKey,
        generation: 1,
        at: at(1),
      });
      expect(failed.history.map((h) => [h.state, h.generation, h.digest])).toEqual([
        ['Pending', 1, digestOf(1)],
        ['Healthy', 1, digestOf(1)],
        ['Pending', 2, digestOf(2)],
        ['Failed', 2, digestOf(2)],
      ]);
    });

    it('ends at the newest generation whatever order concurrent updates land in', async () => {
      // GIVEN an empty ledger
      const ledger = await make();

      // WHEN five generations are recorded for one target at once
      await Promise.all([3, 1, 5, 2, 4].map((g) => ledger.recordDeployment(update(g, 'Pending'))));

      // THEN the record is at generation 5 and its history only moves forward
      const record = await ledger.getDeployment('web', 'prod-use1');
      expect(record?.generation).toBe(5);
      const generations = record?.history.map((h) => h.generation) ?? [];
      expect(generations).toEqual([...generations].sort((a, b) => a - b));
      expect(generations.at(-1)).toBe(5);
    });

    it('keeps one record per (repo, app, target): a same-named app of another repo never shadows it', async () => {
      // GIVEN app web on target a from acme/fleet at generation 7
      const ledger = await make();
      await ledger.recordDeployment(update(7, 'Healthy', { target: 'a' }));

      // WHEN web on a is recorded from another repo at generation 2, later
      await ledger.recordDeployment(update(2, 'Pending', { target: 'a', repo: 'other/fleet', at: at(30) }));

      // THEN each repo has its own record, the lower generation was not refused, and without a
      // repo the most recently updated record is returned
      expect((await ledger.getDeployment('web', 'a', 'acme/fleet'))?.generation).toBe(7);
      expect((await ledger.getDeployment('web', 'a', 'other/fleet'))?.generation).toBe(2);
      expect((await ledger.getDeployment('web', 'a'))?.repo).toBe('other/fleet');
      expect((await ledger.listDeployments()).map((r) => r.repo).sort()).toEqual([
        'acme/fleet',
        'other/fleet',
      ]);
    });

    it('lists every deployment, one record per (repo, app, target)', async () => {
      // GIVEN three targets of two apps, one written twice
      const ledger = await make();
      await ledger.recordDeployment(update(1, 'Pending', { app: 'web', target: 'a' }));
      await ledger.recordDeployment(update(1, 'Healthy', { app: 'web', target: 'a' }));
      await ledger.recordDeployment(update(1, 'Pending', { app: 'web', target: 'b' }));
      await ledger.recordDeployment(update(2, 'Pending', { app: 'api', target: 'a' }));

      // WHEN the ledger is listed THEN each (app, target) appears once, as last written
      const listed = await ledger.listDeployments();
      expect(listed.map((r) => `${r.app}@${r.target}:${r.state}`).sort()).toEqual([
        'api@a:Pending',
        'web@a:Healthy',
        'web@b:Pending',
      ]);
    });

    it('keeps rollouts under optimistic concurrency: one writer per version wins, the rest get CONFLICT', async () => {
      // GIVEN a rollout of web at generation 1 (progressive delivery, shared/core/rollout.ts)
      const ledger = await make();
      if (!ledger.putRollout || !ledger.getRollout || !ledger.listRollouts) {
        throw new Error(
          'this ledger keeps no rollouts: progressive delivery needs getRollout/putRollout/listRollouts',
        );
      }
      const rollout = {
        repo: 'acme/fleet',
        branch: 'main',
        app: 'web',
        commit: sha(1),
        generation: 1,
        traceId: 'trace-1-0000',
        state: 'Progressing' as const,
        current: 0,
        waves: [
          { name: 'canary', targets: ['a'], bakeSeconds: 5, approval: false, state: 'Waiting' as const },
        ],
        held: {},
        dispatched: [],
        approvals: {},
        updatedAt: at(1),
      };
      const first = await ledger.putRollout(rollout, 0);
      expect(first.version).toBe(1);

      // WHEN two writers move it on from version 1
      const results = await Promise.all([
        rejectionOf(ledger.putRollout({ ...rollout, state: 'Baking' }, 1)),
        rejectionOf(ledger.putRollout({ ...rollout, state: 'Halted' }, 1)),
      ]);

      // THEN exactly one wins and the other is told to retry; the stored record is the winner's
      expect(results.filter((r) => r === 'resolved')).toHaveLength(1);
      expect(results.find((r) => r !== 'resolved')).toMatchObject({ code: 'CONFLICT', retryable: true });
      const stored = await ledger.getRollout('acme/fleet', 'main', 'web');
      expect(stored?.version).toBe(2);
      expect((await ledger.listRollouts()).map((r) => `${r.app}:${r.state}`)).toEqual([
        `web:${stored?.state}`,
      ]);
      expect(await ledger.getRollout('acme/fleet', 'main', 'api')).toBeUndefined();
    });
  });
};
