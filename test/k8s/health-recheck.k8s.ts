/**
 * Health re-checks (docs/agent.md#health-re-checks): a Lambda agent applies, looks at health once
 * and leaves; the next look comes from a delayed message. Here the schedule port records what the
 * agent asked for and the test delivers it, as the health queue would (the SQS adapter's delay is
 * covered by test/aws/health-rechecks.test.ts); the cluster is the real kube-apiserver.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { KubeHttp } from '../../shared/adapters/k8s/kube-http.ts';
import { KubernetesCluster } from '../../shared/adapters/k8s/kubernetes-cluster.ts';
import { type AgentDeps, applyRequested, recheckDelayMs, recheckHealth } from '../../shared/core/agent.ts';
import type { HealthRecheck, HealthRechecks } from '../../shared/ports/index.ts';
import { freePort } from '../support/kube.ts';
import { completeRollout, deployment, grantAgentRbac, harness, namespace, uniqueName } from './harness.ts';

const kube = inject('kube');

beforeAll(async () => {
  await grantAgentRbac(kube);
});

/** The agent with a re-check port that keeps what it was asked to schedule, and a settable clock. */
const rechecking = (h: ReturnType<typeof harness>, deadlineMs = 60_000) => {
  let now = Date.parse('2026-12-06T12:00:00Z');
  const scheduled: { check: HealthRecheck; at: Date }[] = [];
  const rechecks: HealthRechecks = {
    schedule: async (check, at) => {
      scheduled.push({ check, at });
    },
  };
  const deps: AgentDeps & { rechecks: HealthRechecks } = {
    ...h.deps,
    clock: { now: () => new Date(now) },
    rechecks,
    healthDeadlineMs: deadlineMs,
  };
  return {
    deps,
    scheduled,
    advance: (ms: number) => {
      now += ms;
    },
    /** Delivers the newest scheduled re-check, as the health queue would when it becomes visible. */
    next: () => {
      const due = scheduled.at(-1);
      if (!due) throw new Error('nothing was scheduled');
      return recheckHealth(deps, due.check);
    },
  };
};

describe('health re-checks', () => {
  it('applies and leaves, then reports Healthy from a later look, backing off between looks', async () => {
    // GIVEN an agent that schedules re-checks and a Deployment no controller has rolled out yet
    const h = harness(kube);
    const r = rechecking(h);
    const ns = uniqueName('recheck');
    const request = await h.request(ns, [namespace(ns), deployment(ns, 'web')], 1);

    // WHEN the agent applies it
    const outcome = await applyRequested(r.deps, request);

    // THEN it reports nothing yet and asks to look again in 5 s
    expect(outcome).toBeUndefined();
    expect(r.scheduled).toHaveLength(1);
    expect(r.scheduled[0]!.check).toMatchObject({ attempt: 1, request: { app: ns, generation: 1 } });
    expect(r.scheduled[0]!.at.getTime() - Date.parse('2026-12-06T12:00:00Z')).toBe(recheckDelayMs(1));
    expect(r.scheduled[0]!.check.result.applied).toBe(2);

    // WHEN the first look finds it still progressing
    r.advance(5000);
    expect(await r.next()).toBeUndefined();

    // THEN the next look is further away (10 s)
    expect(r.scheduled).toHaveLength(2);
    expect(r.scheduled[1]!.check.attempt).toBe(2);
    expect(r.scheduled[1]!.at.getTime() - (Date.parse('2026-12-06T12:00:00Z') + 5000)).toBe(10_000);

    // WHEN the rollout completes and the next look comes
    await completeRollout(kube, ns, 'web');
    r.advance(10_000);
    const healthy = await r.next();

    // THEN Deployment Succeeded is reported once, with what the apply did and the whole duration
    expect(healthy?.detailType).toBe('Deployment Succeeded');
    expect(healthy?.detail).toMatchObject({ app: ns, generation: 1, applied: 2, durationMs: 15_000 });
    expect(r.scheduled).toHaveLength(2);
  });

  it('fails at the deadline, naming the object, and never schedules past it', async () => {
    // GIVEN a 12 s health deadline and a Deployment that never rolls out
    const h = harness(kube);
    const r = rechecking(h, 12_000);
    const ns = uniqueName('stuck');
    expect(
      await applyRequested(r.deps, await h.request(ns, [namespace(ns), deployment(ns, 'web')], 1)),
    ).toBeUndefined();

    // WHEN looks come at 5 s, then 12 s (the 10 s backoff would pass the deadline)
    r.advance(5000);
    expect(await r.next()).toBeUndefined();
    expect(r.scheduled[1]!.at.getTime() - Date.parse('2026-12-06T12:00:00Z')).toBe(12_000);
    r.advance(7000);
    const failed = await r.next();

    // THEN the deployment fails with the deadline and the Deployment at fault
    expect(failed?.detailType).toBe('Deployment Failed');
    expect(failed?.detail).toMatchObject({ reason: 'HEALTH_DEADLINE', objects: [`Deployment/${ns}/web`] });
    expect(r.scheduled).toHaveLength(2);
  });

  it('says nothing for a release a newer one replaced on the target', async () => {
    // GIVEN generation 1 applied and waiting for health
    const h = harness(kube);
    const r = rechecking(h);
    const ns = uniqueName('newer');
    await applyRequested(r.deps, await h.request(ns, [namespace(ns), deployment(ns, 'web')], 1));
    const stale = r.scheduled[0]!.check;

    // WHEN generation 2 is applied before generation 1's look comes
    await applyRequested(r.deps, await h.request(ns, [namespace(ns), deployment(ns, 'web', 3)], 2));
    await completeRollout(kube, ns, 'web');
    r.advance(5000);

    // THEN generation 1's look reports nothing and schedules nothing; generation 2's reports Healthy
    const before = r.scheduled.length;
    expect(await recheckHealth(r.deps, stale)).toBeUndefined();
    expect(r.scheduled).toHaveLength(before);
    expect((await r.next())?.detail).toMatchObject({ generation: 2 });
  });

  it('looks again when the cluster does not answer, and fails at the deadline saying why', async () => {
    // GIVEN an app applied and waiting for health, with a 12 s deadline
    const h = harness(kube);
    const r = rechecking(h, 12_000);
    const ns = uniqueName('unreachable');
    await applyRequested(r.deps, await h.request(ns, [namespace(ns), deployment(ns, 'web')], 1));
    // AND the API server unreachable (a real refused connection: a port nothing listens on)
    const dir = mkdtempSync(join(tmpdir(), 'sluice-unreachable-'));
    const config = join(dir, 'kubeconfig');
    const port = await freePort();
    writeFileSync(
      config,
      readFileSync(kube.agentKubeconfig, 'utf8').replaceAll(kube.server, `https://127.0.0.1:${port}`),
    );
    const down = new KubernetesCluster(KubeHttp.fromFile(config));
    const unreachable = { ...r.deps, cluster: () => down };

    // WHEN the first look cannot reach it
    r.advance(5000);
    expect(await recheckHealth(unreachable, r.scheduled.at(-1)!.check)).toBeUndefined();

    // THEN the next look is scheduled as usual, not left to the queue's visibility timeout
    expect(r.scheduled).toHaveLength(2);
    expect(r.scheduled[1]!.check.attempt).toBe(2);

    // WHEN it still cannot reach it at the deadline
    r.advance(7000);
    const failed = await recheckHealth(unreachable, r.scheduled.at(-1)!.check);

    // THEN the deployment fails at the deadline with the cluster's error as the reason
    expect(failed?.detailType).toBe('Deployment Failed');
    expect(failed?.detail).toMatchObject({ reason: 'HEALTH_DEADLINE' });
    expect((failed?.detail as { message?: string } | undefined)?.message).toMatch(
      /could not be read before the 12 s deadline/,
    );
  });
});
