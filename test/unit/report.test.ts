import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecordingGitProvider, type StatusEntry } from '../../shared/adapters/local/status-recorder.ts';
import { dispatchBundle } from '../../shared/core/dispatch.ts';
import { recordOutcome } from '../../shared/core/report.ts';
import type { ApplyRequested } from '../../shared/schemas/events.ts';
import { bundleVerified, failed, inProcess, sha, storeBundle, succeeded } from './core-fixtures.ts';

/** The in-process pipeline up to report, with commit statuses recorded as `sluice dev` does. */
const setup = async () => {
  const env = await inProcess();
  const statuses: StatusEntry[] = [];
  const provider = new RecordingGitProvider(join(await mkdtemp(join(tmpdir(), 'sluice-report-')), 's.json'), {
    onStatus: (entry) => statuses.push(entry),
  });
  const deps = { ...env, provider };
  const dispatch = async (generation: number, label: string): Promise<ApplyRequested> => {
    const bundle = await storeBundle(env.bundles, label, sha(generation));
    const [request] = await dispatchBundle(env, bundleVerified(generation, bundle, ['a']));
    return request!;
  };
  return { ...env, deps, statuses, dispatch };
};

describe('recordOutcome', () => {
  it('makes a Healthy release the last known good and marks its commit success', async () => {
    // GIVEN generation 1 dispatched to target a
    const { deps, statuses, dispatch, clock } = await setup();
    const one = await dispatch(1, 'v1');

    // WHEN the agent reports success
    const record = await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(one, clock.iso()) });

    // THEN the target is Healthy, this release is its last known good, and the commit is green
    expect(record.state).toBe('Healthy');
    expect(record.lastKnownGood).toMatchObject({ commit: sha(1), digest: one.bundle.digest, generation: 1 });
    expect(statuses).toEqual([
      expect.objectContaining({
        commit: sha(1),
        context: 'sluice/web@a',
        state: 'success',
        description: 'Healthy',
      }),
    ]);
  });

  it('keeps the previous last known good when a newer release fails, and marks that commit failed', async () => {
    // GIVEN generation 1 Healthy and generation 2 dispatched
    const { deps, statuses, dispatch, clock } = await setup();
    const one = await dispatch(1, 'v1');
    await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(one, clock.iso()) });
    const two = await dispatch(2, 'v2');

    // WHEN generation 2 fails its health deadline
    const record = await recordOutcome(deps, { kind: 'failed', detail: failed(two, clock.iso()) });

    // THEN the target is Failed with the agent's reason, and generation 1 is still the last known good
    expect(record).toMatchObject({
      state: 'Failed',
      generation: 2,
      reason: expect.stringContaining('HEALTH_DEADLINE'),
    });
    expect(record.lastKnownGood).toMatchObject({ commit: sha(1), generation: 1 });
    expect(statuses.at(-1)).toMatchObject({ commit: sha(2), state: 'failure' });
    expect(statuses.at(-1)?.description).toContain('HEALTH_DEADLINE');
  });

  it('ignores a late outcome of an older generation, and sends no commit status for it', async () => {
    // GIVEN generation 1 dispatched, then generation 2 dispatched and Healthy
    const { deps, statuses, dispatch, clock, ledger } = await setup();
    const one = await dispatch(1, 'v1');
    const two = await dispatch(2, 'v2');
    await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(two, clock.iso()) });
    const current = await ledger.getDeployment('web', 'a');
    const sent = statuses.length;

    // WHEN generation 1's failure arrives late
    const record = await recordOutcome(deps, { kind: 'failed', detail: failed(one, clock.iso()) });

    // THEN the record is still generation 2 Healthy, and no status was set on commit 1
    expect(record).toEqual(current);
    expect(statuses).toHaveLength(sent);
  });

  it('absorbs a duplicate outcome: the ledger record is unchanged', async () => {
    // GIVEN a success already recorded
    const { deps, dispatch, clock, ledger } = await setup();
    const one = await dispatch(1, 'v1');
    const outcome = { kind: 'succeeded', detail: succeeded(one, clock.iso()) } as const;
    await recordOutcome(deps, outcome);
    const first = await ledger.getDeployment('web', 'a');

    // WHEN the same outcome is delivered again THEN nothing changes, not even the version
    await recordOutcome(deps, outcome);
    expect(await ledger.getDeployment('web', 'a')).toEqual(first);
  });

  it("records a rollback's successful re-dispatch as RolledBack and marks the bad commit failed", async () => {
    // GIVEN generation 2 Healthy (the bad release), then generation 3 re-dispatching v1's bundle as its rollback
    const { deps, statuses, dispatch, clock, ledger } = await setup();
    const one = await dispatch(1, 'v1');
    await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(one, clock.iso()) });
    const two = await dispatch(2, 'v2');
    await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(two, clock.iso()) });
    const redispatch: ApplyRequested = { ...one, generation: 3, rollbackOf: sha(2) };
    await ledger.recordDeployment({
      app: 'web',
      target: 'a',
      repo: 'acme/fleet',
      branch: 'main',
      commit: sha(1),
      generation: 3,
      digest: one.bundle.digest,
      bundleKey: one.bundle.key,
      traceId: one.traceId,
      state: 'Pending',
      rollbackOf: sha(2),
      at: clock.iso(),
    });

    // WHEN the agent reports the re-dispatch applied
    const record = await recordOutcome(deps, {
      kind: 'succeeded',
      detail: succeeded(redispatch, clock.iso()),
    });

    // THEN the target is RolledBack from commit 2, v1's bundle is good again, and commit 2 is marked failed
    expect(record).toMatchObject({ state: 'RolledBack', rollbackOf: sha(2), commit: sha(1), generation: 3 });
    expect(record.lastKnownGood).toMatchObject({ digest: one.bundle.digest, generation: 3 });
    expect(statuses.at(-1)).toMatchObject({ commit: sha(2), state: 'failure' });
    expect(statuses.at(-1)?.description).toMatch(/^RolledBack: /);
  });
});
