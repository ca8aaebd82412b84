import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceCommit } from '../../cli/commands/trace.ts';
import { describeEvent } from '../../cli/progress.ts';
import { cloudWatchAlarmEvent } from '../../shared/core/alarms.ts';
import type { DeploymentRecord } from '../../shared/ports/index.ts';
import type { ApplyRequested, DeploymentSucceeded, Envelope } from '../../shared/schemas/events.ts';
import { git, startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/sluice.mjs');
const API_DEPLOYMENT = 'apps/api/base/deployment.yaml';
const API_TARGETS = ['onprem-fra1', 'prod-euw1', 'prod-use1', 'staging-euw1', 'staging-use1'];

const apiRecords = async (t: TestDev): Promise<DeploymentRecord[]> =>
  (await t.dev.pipeline.ledger.listDeployments()).filter((r) => r.app === 'api');
const allAt = async (t: TestDev, check: (r: DeploymentRecord) => boolean) => {
  const records = await apiRecords(t);
  return records.length === API_TARGETS.length && records.every(check) ? records : undefined;
};
const detail = <T>(e: Envelope) => e.detail as T;
const rollbackApplies = (t: TestDev, bad: string) =>
  t.events('Apply Requested').filter((e) => detail<ApplyRequested>(e).rollbackOf === bad);

/** Pushes an api change (its readiness probe path) and waits until every api target is Healthy at it. */
const releaseApi = async (t: TestDev, probe: string): Promise<string> => {
  const current = await readFile(path.join(t.clone, API_DEPLOYMENT), 'utf8');
  const next = current.replace(/httpGet: \{ path: [^,]+,/, `httpGet: { path: ${probe},`);
  const sha = await t.push({ [API_DEPLOYMENT]: next }, `api probe ${probe}`);
  await waitFor(`api Healthy at ${sha}`, () => allAt(t, (r) => r.commit === sha && r.state === 'Healthy'));
  await t.dev.pipeline.idle();
  return sha;
};

const alarm = (name: string, at: Date, state: 'ALARM' | 'OK' = 'ALARM') =>
  cloudWatchAlarmEvent({ id: randomUUID(), name, at, state, region: 'us-east-1', account: '111111111111' });

/** Every file of a target directory with its mtime: "changes nothing on the targets" made checkable. */
const snapshot = async (t: TestDev) => {
  const out: Record<string, string> = {};
  for (const target of API_TARGETS) {
    for (const file of ['api/deployment.api.yaml', 'api/service.api.yaml']) {
      const full = path.join(t.dev.pipeline.targetDir(target), file);
      out[`${target}/${file}`] = `${(await stat(full)).mtimeMs} ${await readFile(full, 'utf8')}`;
    }
  }
  return out;
};

describe('automated rollback (sluice dev in process, real git server, directory targets)', () => {
  let t: TestDev;
  let seedDigest: Map<string, string>;
  let bad: string;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 100 });
    seedDigest = new Map((await apiRecords(t)).map((r) => [r.target, r.digest]));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('rolls every affected target back to the last known good digest on a mapped alarm, once, despite flaps and duplicates', async () => {
    // GIVEN a bad api release Healthy on all five api targets
    const good = (await apiRecords(t))[0]?.commit as string;
    bad = await releaseApi(t, '/broken');
    expect((await apiRecords(t)).every((r) => r.digest !== seedDigest.get(r.target))).toBe(true);

    // WHEN CloudWatch reports the mapped alarm entering ALARM, flapping, duplicated, and a second
    // mapped alarm (target prod-use1) fires at the same moment
    const now = new Date();
    const first = alarm('api-5xx-rate-high', now);
    const started = performance.now();
    await Promise.all([
      t.dev.pipeline.bus.publishRaw(first),
      t.dev.pipeline.bus.publishRaw(first),
      t.dev.pipeline.bus.publishRaw(alarm('api-5xx-rate-high', now, 'OK')),
      t.dev.pipeline.bus.publishRaw(alarm('api-5xx-rate-high', now)),
      t.dev.pipeline.bus.publishRaw(alarm('api-p99-latency-high', now)),
    ]);

    // THEN every api target runs the last known good bundle again, recorded as RolledBack
    const rolledBack = await waitFor('api RolledBack everywhere', () =>
      allAt(t, (r) => r.state === 'RolledBack' && r.rollbackOf === bad),
    );
    const ms = Math.round(performance.now() - started);
    console.log(JSON.stringify({ metric: 'alarm-to-rolled-back-ms', ms, targets: API_TARGETS.length }));
    for (const r of rolledBack) {
      expect(r.digest).toBe(seedDigest.get(r.target));
      expect(r.commit).toBe(good);
      expect(r.reason).toContain('api-5xx-rate-high');
      const text = await readFile(
        path.join(t.dev.pipeline.targetDir(r.target), 'api/deployment.api.yaml'),
        'utf8',
      );
      expect(text).toContain('path: /healthz');
    }
    await t.dev.pipeline.idle();
    // AND exactly one re-dispatch per target, all under one new generation
    const applies = rollbackApplies(t, bad).map((e) => detail<ApplyRequested>(e));
    expect(applies.map((a) => a.target.name).sort()).toEqual(API_TARGETS);
    expect(new Set(applies.map((a) => a.generation)).size).toBe(1);
    expect(t.events('Rollback Requested')).toHaveLength(1);
  });

  it('writes a revert commit with the trailers that the pipeline then applies as a no-op', async () => {
    // GIVEN the rollback above; the targets as they are now
    const before = await snapshot(t);
    // WHEN the revert has landed in the git server and the pipeline has handled it
    const revert = await waitFor('the revert commit on main', async () => {
      await git(t.clone, 'pull', '--quiet', '--ff-only', 'origin', 'main');
      const head = await git(t.clone, 'rev-parse', 'HEAD');
      return (await git(t.clone, 'log', '-1', '--format=%B')).includes(`Sluice-Revert-Of: ${bad}`)
        ? head
        : undefined;
    });
    const body = await git(t.clone, 'log', '-1', '--format=%B');
    const trace = detail<{ traceId: string }>(t.events('Rollback Requested')[0] as Envelope).traceId;
    expect(
      t.events('Commit Pushed').find((e) => detail<{ commit: string }>(e).commit === bad)?.detail,
    ).toMatchObject({
      traceId: trace,
    });
    expect(body).toContain('Sluice-Alarm: api-5xx-rate-high');
    expect(body).toContain(`Sluice-Trace: ${trace}`);
    // only the app's paths changed, back to the good content
    expect(await git(t.clone, 'show', '--name-only', '--format=', 'HEAD')).toBe(API_DEPLOYMENT);
    expect(await readFile(path.join(t.clone, API_DEPLOYMENT), 'utf8')).toContain(
      'httpGet: { path: /healthz,',
    );
    await waitFor('api at the revert commit', () => allAt(t, (r) => r.commit === revert));
    await t.dev.pipeline.idle();

    // THEN every target reports the same digest, nothing applied, no file touched, still RolledBack
    const outcomes = t
      .events('Deployment Succeeded')
      .map((e) => detail<DeploymentSucceeded>(e))
      .filter((d) => d.commit === revert);
    expect(outcomes.map((d) => d.target).sort()).toEqual(API_TARGETS);
    expect(outcomes.every((d) => d.applied === 0 && d.pruned === 0)).toBe(true);
    for (const r of await apiRecords(t)) {
      expect(r.digest).toBe(seedDigest.get(r.target));
      expect(r.state).toBe('RolledBack');
    }
    expect(await snapshot(t)).toEqual(before);

    // AND `sluice trace` of the bad commit tells the story: released, alarmed, rolled back, reverted
    const story = traceCommit(t.events(), bad.slice(0, 7)).flatMap(describeEvent).join('\n');
    expect(story).toMatch(/healthy .* api@prod-use1/);
    expect(story).toMatch(/alarmed .* rollback requested \(alarm\): alarm api-5xx-rate-high/);
    expect(story).toMatch(/rolledback .* api@prod-use1/);
    expect(story).toContain(`reverted   ${bad.slice(0, 7)} api: revert commit ${revert.slice(0, 7)}`);
    // and the revert commit's own trace links back to the release it reverted
    const revertStory = traceCommit(t.events(), revert).flatMap(describeEvent).join('\n');
    expect(revertStory).toContain(`alarmed    ${bad.slice(0, 7)}`);
  });

  it('does not roll back again: an alarm on the rolled-back release, and the bad commit is not redeployed', async () => {
    // GIVEN the rolled-back api WHEN the alarm fires again
    const requested = t.events('Rollback Requested').length;
    await t.dev.pipeline.bus.publishRaw(alarm('api-5xx-rate-high', new Date()));
    await waitFor('the alarm to be refused', () =>
      t
        .events('Rollback Skipped')
        .find((e) => detail<{ reason: string }>(e).reason === 'already-rolled-back'),
    );
    await t.dev.pipeline.idle();
    // THEN no rollback is requested and nothing is dispatched for the bad commit again
    expect(t.events('Rollback Requested')).toHaveLength(requested);
    expect(rollbackApplies(t, bad)).toHaveLength(API_TARGETS.length);
    expect(t.events('Apply Requested').filter((e) => detail<ApplyRequested>(e).commit === bad)).toHaveLength(
      API_TARGETS.length,
    );
  });

  it('ignores an alarm outside the bake window and an alarm no app maps', async () => {
    // GIVEN a new api release, Healthy (bakeMinutes: 20)
    const release = await releaseApi(t, '/livez');
    const dispatched = t.events('Apply Requested').length;
    // WHEN a mapped alarm enters ALARM 25 minutes after, and an unmapped alarm now
    await t.dev.pipeline.bus.publishRaw(alarm('api-5xx-rate-high', new Date(Date.now() + 25 * 60_000)));
    await t.dev.pipeline.bus.publishRaw(alarm('nobody-maps-this-alarm', new Date()));
    await waitFor('the late alarm to be refused', () =>
      t
        .events('Rollback Skipped')
        .find((e) => detail<{ reason: string }>(e).reason === 'outside-bake-window'),
    );
    await t.dev.pipeline.idle();
    // THEN nothing rolls back
    expect(t.events('Apply Requested')).toHaveLength(dispatched);
    expect((await apiRecords(t)).every((r) => r.commit === release && r.state === 'Healthy')).toBe(true);
  });

  it('rolls back by hand with `sluice rollback --app` against the running sluice dev', async () => {
    // GIVEN api Healthy at the release of the previous test
    const current = (await apiRecords(t))[0]?.commit as string;
    // WHEN the on-call runs the CLI
    const { stdout } = await run(process.execPath, [BIN, 'rollback', '--workdir', t.workdir, '--app', 'api']);
    expect(stdout).toContain(
      `rollback requested: api on ${API_TARGETS.join(', ')} from ${current.slice(0, 7)}`,
    );
    // THEN every api target returns to the last known good (the seed bundle) and Git is reverted
    await waitFor('api rolled back by hand', () =>
      allAt(t, (r) => r.state === 'RolledBack' && r.rollbackOf === current),
    );
    for (const r of await apiRecords(t)) expect(r.digest).toBe(seedDigest.get(r.target));
    await waitFor('the manual revert', () =>
      t.events('Revert Committed').find((e) => detail<{ commit: string }>(e).commit === current),
    );
    const { stdout: trailers } = await run('git', [
      '--git-dir',
      path.join(t.workdir, 'git', 'fleet.git'),
      'log',
      '-1',
      '--format=%B',
      'main',
    ]);
    expect(trailers).toContain(`Sluice-Revert-Of: ${current}`);
    expect(trailers).not.toContain('Sluice-Alarm');
  });
});
