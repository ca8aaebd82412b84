/**
 * Progressive delivery in `sluice dev` (docs/progressive-delivery.md): the example fleet's api app
 * rolled out in two waves — canary (staging-use1, a short bake) then the rest of its targets — over
 * a real git server and directory targets, with the rollout's waits in the workdir timer file.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDev } from '../../cli/commands/dev.ts';
import { cloudWatchAlarmEvent } from '../../shared/core/alarms.ts';
import { rolloutViews } from '../../shared/core/rollout.ts';
import type { DeploymentRecord } from '../../shared/ports/index.ts';
import type { ApplyRequested, Envelope, RolloutProgressed } from '../../shared/schemas/events.ts';
import { EXAMPLE_FLEET, startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/sluice.mjs');
const API_DEPLOYMENT = 'apps/api/base/deployment.yaml';
const CANARY = 'staging-use1';
const REST = ['onprem-fra1', 'prod-euw1', 'prod-use1', 'staging-euw1'];
const BAKE_SECONDS = 3;

/** sluice.yaml with api rolled out in two waves; the second one asks for approval when `approval`. */
const withWaves = async (clone: string, approval: boolean): Promise<string> => {
  const text = await readFile(path.join(clone, 'sluice.yaml'), 'utf8');
  const base = text.replace(/\n {4}rollout:\n(?: {6}.*\n)+/, '\n');
  const rollout = [
    '    rollout:',
    '      waves:',
    `        - { name: canary, targets: { names: [${CANARY}] }, bakeSeconds: ${BAKE_SECONDS} }`,
    `        - { name: fleet${approval ? ', approval: true' : ''} }`,
    '',
  ].join('\n');
  return base.replace('    bakeMinutes: 20\n', `    bakeMinutes: 20\n${rollout}`);
};

const apiRecords = async (dev: DevServer): Promise<DeploymentRecord[]> =>
  (await dev.pipeline.ledger.listDeployments()).filter((r) => r.app === 'api');
const at = async (dev: DevServer, targets: readonly string[], sha: string, state = 'Healthy') => {
  const records = (await apiRecords(dev)).filter((r) => targets.includes(r.target));
  return records.length === targets.length && records.every((r) => r.commit === sha && r.state === state)
    ? records
    : undefined;
};
const rolloutOf = async (dev: DevServer, sha: string) =>
  (await rolloutViews(dev.pipeline.ledger)).find((r) => r.app === 'api' && r.commit === sha);
const steps = (events: readonly Envelope[], sha: string) =>
  events
    .filter((e) => e['detail-type'] === 'Rollout Progressed')
    .map((e) => ({ ...(e.detail as RolloutProgressed), time: Date.parse(e.time) }))
    .filter((s) => s.commit === sha);
const appliesAt = (events: readonly Envelope[], sha: string) =>
  events
    .filter((e) => e['detail-type'] === 'Apply Requested')
    .map((e) => e.detail as ApplyRequested)
    .filter((d) => d.commit === sha && !d.rollbackOf)
    .map((d) => d.target.name);

/** An api change (its readiness probe path). */
const apiChange = async (t: { clone: string }, probe: string) => {
  const current = await readFile(path.join(t.clone, API_DEPLOYMENT), 'utf8');
  return { [API_DEPLOYMENT]: current.replace(/httpGet: \{ path: [^,]+,/, `httpGet: { path: ${probe},`) };
};

describe('progressive delivery in sluice dev (two waves, bake, approval, alarm)', () => {
  let t: TestDev;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 100 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('reaches the canary first; the rest keep the old commit until the canary baked Healthy', async () => {
    // GIVEN api rolled out in two waves (a config change alone releases nothing)
    await t.push({ 'sluice.yaml': await withWaves(t.clone, false) }, 'api: two waves');
    await t.dev.pipeline.idle();
    const old = (await apiRecords(t.dev)).find((r) => r.target === REST[0])?.commit as string;

    // WHEN an api change is pushed
    const sha = await t.push(await apiChange(t, '/ready-v2'), 'api probe v2');

    // THEN the canary takes it while the rest keep the old commit, through the bake
    await waitFor('canary Healthy', () => at(t.dev, [CANARY], sha));
    await waitFor('rollout Baking', async () =>
      (await rolloutOf(t.dev, sha))?.state === 'Baking' ? true : undefined,
    );
    expect((await at(t.dev, REST, old))?.length).toBe(REST.length);
    expect(appliesAt(t.events(), sha)).toEqual([CANARY]);

    // AND once the bake is over the rest take it, and the rollout completes
    await waitFor('the rest Healthy', () => at(t.dev, REST, sha), 30_000);
    await waitFor('rollout Completed', async () =>
      (await rolloutOf(t.dev, sha))?.state === 'Completed' ? true : undefined,
    );
    const s = steps(t.events(), sha);
    const healthy = s.find((x) => x.wave === 'canary' && x.step === 'healthy');
    const started = s.find((x) => x.wave === 'fleet' && x.step === 'started');
    expect(healthy && started).toBeTruthy();
    // The second wave starts no earlier than the bake after the canary was Healthy.
    expect((started?.time ?? 0) - (healthy?.time ?? 0)).toBeGreaterThanOrEqual(BAKE_SECONDS * 1000);
    // The overhead beyond the bake, for the closing note (docs/progressive-delivery.md#overhead).
    console.log(
      `wave-to-wave overhead beyond the ${BAKE_SECONDS} s bake: ${(started?.time ?? 0) - (healthy?.time ?? 0) - BAKE_SECONDS * 1000} ms`,
    );
    const sorted = [...appliesAt(t.events(), sha)].sort();
    expect(sorted).toEqual([CANARY, ...REST].sort());
  });

  it('an approval wave waits for `sluice approve`', async () => {
    await t.push({ 'sluice.yaml': await withWaves(t.clone, true) }, 'api: the fleet wave needs approval');
    await t.dev.pipeline.idle();
    const sha = await t.push(await apiChange(t, '/ready-v3'), 'api probe v3');

    await waitFor(
      'rollout AwaitingApproval',
      async () => ((await rolloutOf(t.dev, sha))?.state === 'AwaitingApproval' ? true : undefined),
      30_000,
    );
    expect(appliesAt(t.events(), sha)).toEqual([CANARY]);
    const status = JSON.parse(
      (await run(process.execPath, [BIN, 'status', '--workdir', t.workdir, '--json'])).stdout,
    ) as { rollouts: { app: string; commit: string; wave: string; state: string }[] };
    expect(status.rollouts.find((r) => r.app === 'api')).toMatchObject({
      commit: sha,
      wave: 'fleet',
      state: 'AwaitingApproval',
    });

    const { stdout } = await run(process.execPath, [
      BIN,
      'approve',
      '--workdir',
      t.workdir,
      '--app',
      'api',
      '--wave',
      'fleet',
    ]);
    expect(stdout).toContain('approved: api wave fleet');
    await waitFor('the rest Healthy', () => at(t.dev, REST, sha), 30_000);
    expect(steps(t.events(), sha).some((s) => s.step === 'approved' && s.wave === 'fleet')).toBe(true);
  });

  it('a mapped alarm during the bake halts the rollout and rolls the canary back; the rest never get it', async () => {
    await t.push({ 'sluice.yaml': await withWaves(t.clone, false) }, 'api: two waves again');
    await t.dev.pipeline.idle();
    const before = (await apiRecords(t.dev)).find((r) => r.target === CANARY)?.digest;
    const sha = await t.push(await apiChange(t, '/broken'), 'api probe broken');
    await waitFor('rollout Baking', async () =>
      (await rolloutOf(t.dev, sha))?.state === 'Baking' ? true : undefined,
    );

    // WHEN the app's alarm enters ALARM during the canary's bake
    await t.dev.pipeline.bus.publishRaw(
      cloudWatchAlarmEvent({
        id: randomUUID(),
        name: 'api-5xx-rate-high',
        at: new Date(),
        state: 'ALARM',
        region: 'us-east-1',
        account: '111111111111',
      }),
    );

    // THEN the rollout halts, the canary returns to its last known good, and after the bake
    // would have ended the rest still never received the commit
    await waitFor('halted', () =>
      steps(t.events(), sha).find((s) => s.step === 'halted' && s.message.includes('api-5xx-rate-high')),
    );
    await waitFor('canary rolled back', async () => {
      const canary = (await apiRecords(t.dev)).find((r) => r.target === CANARY);
      return canary?.rollbackOf === sha && canary.digest === before ? canary : undefined;
    });
    await new Promise((r) => setTimeout(r, BAKE_SECONDS * 1000 + 1000));
    await t.dev.pipeline.idle();
    expect(appliesAt(t.events(), sha)).toEqual([CANARY]);
    for (const r of await apiRecords(t.dev)) expect(r.commit === sha && r.target !== CANARY).toBe(false);
  });
});

describe('progressive delivery survives a restart of sluice dev during a bake', () => {
  let t: TestDev;
  let dev: DevServer | undefined;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 100 });
  });
  afterAll(async () => {
    await dev?.stop();
    await rm(t.workdir, { recursive: true, force: true });
  });

  it('resumes the bake from the workdir and completes the rollout', async () => {
    await t.push({ 'sluice.yaml': await withWaves(t.clone, false) }, 'api: two waves');
    await t.dev.pipeline.idle();
    const sha = await t.push(await apiChange(t, '/ready-restart'), 'api probe restart');
    await waitFor('rollout Baking', async () =>
      (await rolloutOf(t.dev, sha))?.state === 'Baking' ? true : undefined,
    );

    // WHEN sluice dev stops during the bake and starts again on the same workdir
    await t.dev.stop();
    dev = await startDev(
      {
        workdir: t.workdir,
        port: 0,
        gitPort: 0,
        webhookSecret: t.secret,
        seed: EXAMPLE_FLEET,
        coalesceMs: 100,
        quiet: true,
      },
      () => undefined,
    );

    // THEN the rollout resumes and completes: every api target at the commit
    const restarted = dev;
    await waitFor('the rest Healthy after restart', () => at(restarted, REST, sha), 30_000);
    await waitFor('rollout Completed', async () =>
      (await rolloutOf(restarted, sha))?.state === 'Completed' ? true : undefined,
    );
  });
});
