/**
 * apps[].dependsOn in the core (docs/progressive-delivery.md#ordering-between-apps-dependson): the
 * dependent's requests are held, go out per target once its dependency is Healthy there, and a
 * target where the dependency failed ends Failed with the reason instead of waiting for ever.
 */
import { describe, expect, it } from 'vitest';
import { dispatchBundle } from '../../shared/core/dispatch.ts';
import { recordOutcome } from '../../shared/core/report.ts';
import {
  advanceRollout,
  dependencyGenerations,
  dependencyWaves,
  rolloutOf,
  startRollout,
} from '../../shared/core/rollout.ts';
import type { RolloutWake } from '../../shared/ports/index.ts';
import type { ApplyRequested } from '../../shared/schemas/events.ts';
import { bundleVerified, failed, inProcess, sha, storeBundle, succeeded } from './core-fixtures.ts';

const KEY = { repo: 'acme/fleet', branch: 'main', app: 'web' };

describe('dependsOn holds an app until its dependency is Healthy on each target', () => {
  it('sends web where crds is Healthy and fails it, with the reason, where crds failed', async () => {
    // GIVEN web dependsOn crds, both released to a and b at generation 1. The timer only records
    // the wakes (the test runs each one itself, as the rollout stage would).
    const env = await inProcess();
    const wakes: RolloutWake[] = [];
    const deps = { ...env, timer: { schedule: async (w: RolloutWake) => void wakes.push(w) } };
    const releasing = [
      { app: 'crds', targets: ['a', 'b'] },
      { app: 'web', targets: ['a', 'b'] },
    ];
    await startRollout(deps, {
      ...KEY,
      commit: sha(1),
      generation: 1,
      traceId: 'trace-0001',
      waves: dependencyWaves(['a', 'b']),
      dependsOn: dependencyGenerations(['crds'], releasing, 1),
    });
    const web = await storeBundle(env.bundles, 'web-v1', 'x');
    const crds = await storeBundle(env.bundles, 'crds-v1', 'x');

    // WHEN web's bundle reaches dispatch first, then crds'
    expect(await dispatchBundle(deps, bundleVerified(1, web, ['a', 'b']))).toEqual([]);
    const crdsRequests = await dispatchBundle(deps, bundleVerified(1, crds, ['a', 'b'], { app: 'crds' }));
    await advanceRollout(deps, wakes.at(-1)!);

    // THEN only crds went to the agents: web waits while crds is Pending
    expect(env.sent.map((s) => `${s.request.app}@${s.target}`)).toEqual(['crds@a', 'crds@b']);

    // WHEN crds turns Healthy on a and fails on b
    const [onA, onB] = crdsRequests as [ApplyRequested, ApplyRequested];
    wakes.length = 0;
    await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(onA, env.clock.iso()) });
    await recordOutcome(deps, { kind: 'failed', detail: failed(onB, env.clock.iso()) });

    // THEN each report woke web's rollout; web goes to a, and is Failed on b with the reason
    expect(wakes.filter((w) => w.app === 'web')).toHaveLength(2);
    await advanceRollout(deps, wakes.at(-1)!);
    expect(env.sent.map((s) => `${s.request.app}@${s.target}`)).toEqual(['crds@a', 'crds@b', 'web@a']);
    const blocked = await env.ledger.getDeployment('web', 'b', 'acme/fleet');
    expect(blocked).toMatchObject({ state: 'Failed', generation: 1 });
    expect(blocked?.reason).toContain('waiting on crds which failed on b');

    // AND once web is Healthy on a, its rollout completes: nothing is left waiting
    const webOnA = env.sent.find((s) => s.request.app === 'web')!.request;
    await recordOutcome(deps, { kind: 'succeeded', detail: succeeded(webOnA, env.clock.iso()) });
    await advanceRollout(deps, wakes.at(-1)!);
    expect((await rolloutOf(env.ledger, KEY))?.state).toBe('Completed');
  });

  it('does not wait on a target the dependency is not deployed to', async () => {
    // GIVEN web dependsOn crds, crds released nowhere and never deployed to c
    const env = await inProcess();
    const wakes: RolloutWake[] = [];
    const deps = { ...env, timer: { schedule: async (w: RolloutWake) => void wakes.push(w) } };
    await startRollout(deps, {
      ...KEY,
      commit: sha(1),
      generation: 1,
      traceId: 'trace-0001',
      waves: dependencyWaves(['c']),
      dependsOn: dependencyGenerations(['crds'], [{ app: 'web', targets: ['c'] }], 1),
    });

    // WHEN web is dispatched and its rollout woken
    await dispatchBundle(deps, bundleVerified(1, await storeBundle(env.bundles, 'web-v1', 'x'), ['c']));
    await advanceRollout(deps, wakes.at(-1)!);

    // THEN it goes out at once
    expect(env.sent.map((s) => `${s.request.app}@${s.target}`)).toEqual(['web@c']);
  });
});
