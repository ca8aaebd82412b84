import { describe, expect, it } from 'vitest';
import type { AlarmStateChange } from '../../shared/core/alarms.ts';
import { dispatchBundle } from '../../shared/core/dispatch.ts';
import { recordOutcome } from '../../shared/core/report.ts';
import {
  executeRollback,
  knownGoodFor,
  type RollbackDeps,
  rollbackForFailure,
  rollbacksForAlarm,
} from '../../shared/core/rollback.ts';
import type { GitWriter } from '../../shared/ports/index.ts';
import type {
  ApplyRequested,
  OutboundEvent,
  RevertFailed,
  RollbackRequested,
  RollbackSkipped,
} from '../../shared/schemas/events.ts';
import {
  bundleVerified,
  failed,
  inProcess,
  memoryGit,
  sha,
  storeBundle,
  succeeded,
} from './core-fixtures.ts';

const FLEET = `apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - { name: a, cloud: onprem, region: r1 }
  - { name: b, cloud: onprem, region: r1 }
apps:
  - name: web
    path: apps/web
    targets: {}
    alarms: [{ name: web-errors }]
    bakeMinutes: 30
    rollback: { onAlarm: true, onFailed: true }
`;

/**
 * web at generation 1 (v1) then 2 (v2), both Healthy on targets a and b, through the real
 * dispatch and report cores; the revert writer records what it was asked to write.
 */
const deployed = async (options: { writer?: boolean } = {}) => {
  const env = await inProcess();
  const reverts: Parameters<GitWriter['revertPaths']>[0][] = [];
  const writer: GitWriter = {
    revertPaths: async (input) => {
      reverts.push(input);
      return { status: 'committed', commit: sha(99), branch: input.branch };
    },
  };
  const deps: RollbackDeps = {
    ...env,
    git: memoryGit({ [sha(1)]: { 'sluice.yaml': FLEET }, [sha(2)]: { 'sluice.yaml': FLEET } }),
    repoUrl: (repo) => `http://127.0.0.1:1/${repo}.git`,
    ...(options.writer === false ? {} : { writer }),
  };
  const release = async (generation: number, label: string) => {
    const bundle = await storeBundle(env.bundles, label, sha(generation));
    await env.ledger.putBranch(
      {
        repo: 'acme/fleet',
        branch: 'main',
        lastPlanned: sha(generation),
        generation,
        plannedAt: env.clock.iso(),
      },
      (await env.ledger.getBranch('acme/fleet', 'main'))?.version ?? 0,
    );
    const requests = await dispatchBundle(env, bundleVerified(generation, bundle, ['a', 'b']));
    env.clock.advance(60_000);
    for (const r of requests)
      await recordOutcome(env, { kind: 'succeeded', detail: succeeded(r, env.clock.iso()) });
    return bundle;
  };
  const v1 = await release(1, 'v1');
  const v2 = await release(2, 'v2');
  env.sent.length = 0;
  const request = (overrides: Partial<RollbackRequested> = {}): RollbackRequested => ({
    schemaVersion: 1,
    traceId: 'trace-0002',
    repo: 'acme/fleet',
    branch: 'main',
    commit: sha(2),
    occurredAt: env.clock.iso(),
    app: 'web',
    targets: ['a', 'b'],
    trigger: 'manual',
    reason: 'rolled back by hand',
    ...overrides,
  });
  const alarm = (minutesFromNow: number, state = 'ALARM'): AlarmStateChange => ({
    name: 'web-errors',
    arn: undefined,
    region: 'r1',
    state,
    previousState: 'OK',
    reason: 'errors above 5%',
    at: new Date(env.clock.now().getTime() + minutesFromNow * 60_000),
    tags: {},
  });
  return { ...env, deps, v1, v2, reverts, request, alarm };
};

const skipsOf = (events: OutboundEvent[]) =>
  events
    .filter((e) => e.detailType === 'Rollback Skipped')
    .map((e) => [(e.detail as RollbackSkipped).targets.join(','), (e.detail as RollbackSkipped).reason]);

describe('executeRollback', () => {
  it('re-dispatches the last known good bundle to every target under one new, higher generation', async () => {
    // GIVEN web v2 Healthy on a and b, v1 before it
    const { deps, sent, ledger, v1, request } = await deployed();

    // WHEN a rollback of commit 2 is carried out
    await executeRollback(deps, request());

    // THEN both targets get v1's bundle at generation 3, marked as the rollback of commit 2,
    // the ledger said Pending before each hand-off, and the branch's next plan comes after it
    expect(
      sent.map((s) => [s.target, s.request.bundle.digest, s.request.generation, s.request.rollbackOf]),
    ).toEqual([
      ['a', v1.digest, 3, sha(2)],
      ['b', v1.digest, 3, sha(2)],
    ]);
    expect(sent.map((s) => s.ledgerState)).toEqual(['Pending@3', 'Pending@3']);
    expect((await ledger.getBranch('acme/fleet', 'main'))?.generation).toBeGreaterThanOrEqual(3);
    expect((await ledger.getDeployment('web', 'a'))?.rollbackOf).toBe(sha(2));
  });

  it('writes the revert into Git once every target is rolled back, restoring the app path to the good commit', async () => {
    // GIVEN web v2 on a and b WHEN both are rolled back
    const { deps, reverts, request } = await deployed();
    const events = await executeRollback(deps, request());

    // THEN one revert of apps/web from commit 2 back to commit 1 is written, and Revert Committed says so
    expect(reverts.map((r) => [r.revertOf, r.restoreTo, r.paths])).toEqual([[sha(2), sha(1), ['apps/web']]]);
    expect(reverts[0]?.message).toContain(`Sluice-Revert-Of: ${sha(2)}`);
    expect(events.map((e) => e.detailType)).toContain('Revert Committed');
  });

  it('writes no revert while another target still runs the bad commit, and says why', async () => {
    // GIVEN web v2 on a and b WHEN only a is rolled back
    const { deps, reverts, request } = await deployed();
    const events = await executeRollback(deps, request({ targets: ['a'] }));

    // THEN nothing is written to Git: a revert would roll b back too
    expect(reverts).toEqual([]);
    const revert = events.find((e) => e.detailType === 'Revert Failed')?.detail as RevertFailed | undefined;
    expect(revert).toMatchObject({ reason: 'partial' });
    expect(revert?.message).toContain('b still run');
  });

  it('rolls back once: a duplicate request re-dispatches nothing and reports the targets already rolled back', async () => {
    // GIVEN a rollback already carried out
    const { deps, sent, request, reverts } = await deployed();
    await executeRollback(deps, request());
    sent.length = 0;

    // WHEN the same Rollback Requested is delivered again
    const events = await executeRollback(deps, request());

    // THEN no agent is handed anything, no second revert is written, and both targets are skipped
    expect(sent).toEqual([]);
    expect(reverts).toHaveLength(1);
    expect(skipsOf(events)).toEqual([
      ['a', 'already-rolled-back'],
      ['b', 'already-rolled-back'],
    ]);
  });

  it('skips a target that already runs a newer commit than the one to roll back', async () => {
    // GIVEN web v2 on a and b WHEN a rollback of commit 1 (no longer running) is asked for
    const { deps, sent, request } = await deployed();
    const events = await executeRollback(deps, request({ commit: sha(1) }));

    // THEN nothing is re-dispatched and each target is skipped as superseded
    expect(sent).toEqual([]);
    expect(skipsOf(events)).toEqual([
      ['a', 'superseded'],
      ['b', 'superseded'],
    ]);
  });

  it('skips a target with no earlier Healthy release to return to', async () => {
    // GIVEN an app whose only release is generation 1
    const env = await inProcess();
    const deps: RollbackDeps = {
      ...env,
      git: memoryGit({ [sha(1)]: { 'sluice.yaml': FLEET } }),
      repoUrl: (repo) => `http://127.0.0.1:1/${repo}.git`,
    };
    const bundle = await storeBundle(env.bundles, 'v1', sha(1));
    const [only] = await dispatchBundle(env, bundleVerified(1, bundle, ['a']));
    await recordOutcome(env, { kind: 'succeeded', detail: succeeded(only!, env.clock.iso()) });
    env.sent.length = 0;

    // WHEN it is rolled back THEN nothing is dispatched and the reason is no-known-good
    const events = await executeRollback(deps, {
      schemaVersion: 1,
      traceId: 'trace-0001',
      repo: 'acme/fleet',
      branch: 'main',
      commit: sha(1),
      occurredAt: env.clock.iso(),
      app: 'web',
      targets: ['a'],
      trigger: 'manual',
      reason: 'by hand',
    });
    expect(env.sent).toEqual([]);
    expect(skipsOf(events)).toEqual([['a', 'no-known-good']]);
  });

  it('reports a revert it could not write when no Git writer is configured, after rolling the targets back', async () => {
    // GIVEN a pipeline without a Git writer WHEN a rollback is carried out
    const { deps, sent, request } = await deployed({ writer: false });
    const events = await executeRollback(deps, request());

    // THEN the targets were still rolled back, and Revert Failed tells the user to revert by hand
    expect(sent).toHaveLength(2);
    const revert = events.find((e) => e.detailType === 'Revert Failed')?.detail as RevertFailed | undefined;
    expect(revert?.message).toContain('revert the commit by hand');
  });

  it("records the revert commit's release, which brings the same bundle again, as still RolledBack", async () => {
    // GIVEN v2 rolled back to v1 on a and b, and the agents reported it
    const { deps, sent, ledger, clock, request, v1 } = await deployed();
    await executeRollback(deps, request());
    for (const s of sent)
      await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(s.request, clock.iso()) });

    // WHEN the revert commit is planned and its bundle (v1's bytes, same digest) deployed on a
    const [revert] = await dispatchBundle(deps, bundleVerified(4, v1, ['a'], { commit: sha(99) }));
    const record = await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(revert!, clock.iso()) });

    // THEN a stays RolledBack from commit 2 at the revert's generation: Git caught up, nothing new was released
    expect(record).toMatchObject({
      state: 'RolledBack',
      rollbackOf: sha(2),
      generation: 4,
      digest: v1.digest,
    });
    expect((await ledger.getDeployment('web', 'a'))?.state).toBe('RolledBack');
  });
});

describe('rollback triggers', () => {
  it('asks for one rollback when a mapped alarm fires inside the bake window, and none for its flaps', async () => {
    // GIVEN web v2 Healthy on a and b a minute ago
    const { deps, alarm, published } = await deployed();

    // WHEN the alarm enters ALARM, and again after a flap
    const first = await rollbacksForAlarm(deps, alarm(0));
    const flap = await rollbacksForAlarm(deps, alarm(2));

    // THEN one Rollback Requested names commit 2 on both targets; the flap is a duplicate
    const requested = first.filter((e) => e.detailType === 'Rollback Requested');
    expect(
      requested.map((e) => [(e.detail as RollbackRequested).commit, (e.detail as RollbackRequested).targets]),
    ).toEqual([[sha(2), ['a', 'b']]]);
    expect(flap.filter((e) => e.detailType === 'Rollback Requested')).toEqual([]);
    expect(skipsOf(flap).map(([, reason]) => reason)).toEqual(['duplicate', 'duplicate']);
    expect(published('Rollback Requested')).toHaveLength(1);
  });

  it('does not roll back on an alarm after the bake window, nor on an OK', async () => {
    // GIVEN web v2 Healthy a minute ago, with a 30-minute bake window
    const { deps, alarm } = await deployed();

    // WHEN the alarm returns to OK, or enters ALARM 40 minutes later
    const ok = await rollbacksForAlarm(deps, alarm(0, 'OK'));
    const late = await rollbacksForAlarm(deps, alarm(40));

    // THEN nothing is requested; the late alarm says it was outside the bake window
    expect(ok).toEqual([]);
    expect(late.filter((e) => e.detailType === 'Rollback Requested')).toEqual([]);
    expect(skipsOf(late).map(([, reason]) => reason)).toEqual(['outside-bake-window', 'outside-bake-window']);
  });

  it('asks for a rollback when a release fails on an app that opted in', async () => {
    // GIVEN web (rollback.onFailed) WHEN generation 2 fails on b
    const { deps } = await deployed();
    const two = {
      ...bundleVerified(2, { key: 'k', digest: `sha256:${'2'.repeat(64)}`, size: 1, objects: 1 }, ['b']),
    };
    const request: ApplyRequested = { ...two, target: two.targets[0]!, bundle: two.bundle };
    const events = await rollbackForFailure(deps, failed(request, '2026-01-01T01:00:00.000Z'));

    // THEN one Rollback Requested for b, triggered by the failure
    expect(
      events.map((e) => [
        e.detailType,
        (e.detail as RollbackRequested).trigger,
        (e.detail as RollbackRequested).targets,
      ]),
    ).toEqual([['Rollback Requested', 'deployment-failed', ['b']]]);
  });

  it("never rolls back a rollback: the re-dispatch's own failure triggers nothing", async () => {
    // GIVEN a rollback re-dispatched v1 to a
    const { deps, sent, request, published } = await deployed();
    await executeRollback(deps, request({ targets: ['a'] }));
    const redispatch = sent[0]!.request;
    const before = published('Rollback Requested').length;

    // WHEN that re-dispatch fails on the target
    const events = await rollbackForFailure(deps, failed(redispatch, '2026-01-01T01:00:00.000Z'));

    // THEN no new rollback is asked for
    expect(events).toEqual([]);
    expect(published('Rollback Requested')).toHaveLength(before);
  });
});

describe('knownGoodFor', () => {
  it('returns to the newest Healthy release before the bad one, never to a Failed one', async () => {
    // GIVEN v1 Healthy, v2 Healthy, v3 Failed (so v3 is the bad release)
    const { ledger, bundles, v1, v2 } = await deployed();
    const env = await inProcess();
    const v3 = await storeBundle(bundles, 'v3', sha(3));
    const [three] = await dispatchBundle({ ...env, ledger }, bundleVerified(3, v3, ['a']));
    await recordOutcome(
      { ledger, clock: env.clock },
      { kind: 'failed', detail: failed(three!, env.clock.iso()) },
    );
    const record = (await ledger.getDeployment('web', 'a'))!;

    // WHEN the known good release is looked up
    // THEN it is v2 (the newest Healthy), and v1 when asked for commit 1
    expect(knownGoodFor(record)).toMatchObject({ commit: sha(2), digest: v2.digest, state: 'Healthy' });
    expect(knownGoodFor(record, sha(1))).toMatchObject({ commit: sha(1), digest: v1.digest });
    expect(knownGoodFor(record, sha(3))).toBeUndefined();
  });

  it('never returns to a release that was itself rolled back', async () => {
    // GIVEN v2 rolled back to v1 on a (RolledBack), then v4 released and Healthy
    const { deps, sent, ledger, bundles, clock, request, v1 } = await deployed();
    await executeRollback(deps, request({ targets: ['a'] }));
    await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(sent[0]!.request, clock.iso()) });
    const v4 = await storeBundle(bundles, 'v4', sha(4));
    const [four] = await dispatchBundle(deps, bundleVerified(4, v4, ['a']));
    await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(four!, clock.iso()) });
    const record = (await ledger.getDeployment('web', 'a'))!;

    // WHEN v4 turns out bad and its known good release is looked up
    // THEN it is v1's bundle (re-deployed by the rollback), not v2's
    expect(knownGoodFor(record)).toMatchObject({
      state: 'RolledBack',
      digest: v1.digest,
      rollbackOf: sha(2),
    });
  });
});
