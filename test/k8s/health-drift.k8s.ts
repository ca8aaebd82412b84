import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSRecord } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { localContext } from '../../shared/adapters/local/event-source.ts';
import { checkDrift, formatDrift } from '../../shared/core/drift.ts';
import { createAgentHandler } from '../support/agent-handler.ts';
import {
  admin,
  completeRollout,
  configMap,
  deployment,
  eventually,
  getObject,
  grantAgentRbac,
  harness,
  namespace,
  uniqueName,
} from './harness.ts';

const kube = inject('kube');

beforeAll(async () => {
  await grantAgentRbac(kube);
});

const deployPath = (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;

/** Delivers and, like the deployment controller would, completes the rollout once it appears. */
const deliverAndRollOut = async (
  h: ReturnType<typeof harness>,
  app: string,
  ns: string,
  generation: number,
) => {
  const outcome = h.deliver(app, [namespace(ns), deployment(ns, 'web')], generation);
  await eventually(
    async () => (await getObject(kube, deployPath(ns, 'web'))) !== undefined,
    'the deployment',
  );
  await completeRollout(kube, ns, 'web');
  return outcome;
};

describe('health', () => {
  it('fails a Deployment whose rollout never progresses at the app deadline, naming it', async () => {
    // GIVEN an agent with a 2 s health deadline and no controller advancing the Deployment
    const h = harness(kube, { healthDeadlineMs: 2000 });
    const ns = uniqueName('stuck');

    // WHEN a bundle with a Deployment is delivered
    const outcome = await h.deliver('stuck', [namespace(ns), deployment(ns, 'web')], 1);

    // THEN the deployment fails with the deadline as reason and the Deployment at fault
    expect(outcome.detailType).toBe('Deployment Failed');
    expect(outcome.detail).toMatchObject({ reason: 'HEALTH_DEADLINE', objects: [`Deployment/${ns}/web`] });
    expect((outcome.detail as { message: string }).message).toContain('spec update to be observed');

    // WHEN the same delivery comes again (at-least-once) after the rollout completed
    await completeRollout(kube, ns, 'web');
    const again = await h.deliver('stuck', [namespace(ns), deployment(ns, 'web')], 1);

    // THEN nothing is re-applied and the real, healthy outcome is reported
    expect(again.detailType).toBe('Deployment Succeeded');
    expect(again.detail).toMatchObject({ applied: 0, pruned: 0 });
  });

  it('succeeds once the Deployment is rolled out', async () => {
    // GIVEN an agent with a generous deadline
    const h = harness(kube, { healthDeadlineMs: 60_000 });
    const ns = uniqueName('rolls');

    // WHEN the Deployment is applied and its status then says every replica is updated and available
    const outcome = await deliverAndRollOut(h, 'rolls', ns, 1);

    // THEN the deployment succeeds
    expect(outcome.detailType).toBe('Deployment Succeeded');
  });

  it('fails at once when a Deployment exceeds its progress deadline', async () => {
    // GIVEN the controller reports ProgressDeadlineExceeded
    const h = harness(kube, { healthDeadlineMs: 60_000 });
    const ns = uniqueName('deadline');
    const outcome = h.deliver('deadline', [namespace(ns), deployment(ns, 'web')], 1);
    await eventually(
      async () => (await getObject(kube, deployPath(ns, 'web'))) !== undefined,
      'the deployment',
    );
    const live = await getObject(kube, deployPath(ns, 'web'));
    await admin(kube).request(
      'PATCH',
      `${deployPath(ns, 'web')}/status`,
      {
        status: {
          observedGeneration: live?.metadata.generation,
          replicas: 2,
          updatedReplicas: 2,
          conditions: [
            {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: 'image pull',
            },
          ],
        },
      },
      'application/merge-patch+json',
    );

    // WHEN the agent sees it
    const result = await outcome;

    // THEN it reports Failed with the controller's reason
    expect(result.detail).toMatchObject({ reason: 'HEALTH_FAILED', objects: [`Deployment/${ns}/web`] });
    expect((result.detail as { message: string }).message).toContain('progress deadline');
  });
});

describe('waves', () => {
  it('applies a later wave only once the earlier wave is healthy', async () => {
    // GIVEN a database Deployment in wave -1 and the app's ConfigMap in wave 1
    const h = harness(kube, { healthDeadlineMs: 60_000 });
    const ns = uniqueName('waves');
    const db = deployment(ns, 'db', 1);
    db.metadata.annotations = { 'sluice.dev/wave': '-1' };
    const late = configMap(ns, 'after');
    late.metadata.annotations = { 'sluice.dev/wave': '1' };

    // WHEN it is delivered and the database is still rolling out
    const outcome = h.deliver('waves', [late, db, namespace(ns)], 1);
    await eventually(
      async () => (await getObject(kube, deployPath(ns, 'db'))) !== undefined,
      'the db deployment',
    );

    // THEN the later wave is not there yet
    expect(await getObject(kube, `/api/v1/namespaces/${ns}/configmaps/after`)).toBeUndefined();

    // WHEN the database becomes available
    await completeRollout(kube, ns, 'db');

    // THEN the later wave is applied and the delivery succeeds
    expect((await outcome).detailType).toBe('Deployment Succeeded');
    expect(await getObject(kube, `/api/v1/namespaces/${ns}/configmaps/after`)).toBeDefined();
  });
});

describe('drift', () => {
  it('reports a kubectl edit of a Sluice field as drift and leaves it when selfHeal is off', async () => {
    // GIVEN a rolled-out app, then someone runs `kubectl scale`/`edit` on replicas and adds an annotation
    const h = harness(kube);
    const ns = uniqueName('drift');
    await deliverAndRollOut(h, 'drifty', ns, 1);
    const edit = await admin(kube).request(
      'PATCH',
      `${deployPath(ns, 'web')}?fieldManager=kubectl-edit`,
      { spec: { replicas: 5 }, metadata: { annotations: { 'team.example.com/owner': 'ops' } } },
      'application/merge-patch+json',
    );
    expect(edit.status).toBe(200);

    // WHEN drift is checked
    const drift = await checkDrift(h.deps, h.cluster, { app: 'drifty', target: 'kind-local' });

    // THEN exactly the Sluice field is reported, with who changed it; the extra annotation is not drift
    expect(drift?.diffs).toEqual([
      { object: `Deployment/${ns}/web`, path: 'spec.replicas', desired: 2, live: 5, manager: 'kubectl-edit' },
    ]);
    expect(drift?.healed).toBe(false);
    expect(formatDrift(drift?.diffs ?? [])).toBe(
      `Deployment/${ns}/web spec.replicas: want 2, live 5 (changed by kubectl-edit)`,
    );
    expect((await getObject(kube, deployPath(ns, 'web')))?.spec.replicas).toBe(5);

    // AND a new delivery without force fails on the conflict, naming the field and its manager
    const next = await h.deliver('drifty', [namespace(ns), deployment(ns, 'web'), configMap(ns, 'new')], 2);
    expect(next.detailType).toBe('Deployment Failed');
    expect(next.detail).toMatchObject({ reason: 'APPLY_CONFLICT', objects: [`Deployment/${ns}/web`] });
    expect((next.detail as { message: string }).message).toContain(
      '.spec.replicas (owned by "kubectl-edit")',
    );

    // WHEN the app opts the object into taking conflicting fields
    const forced = deployment(ns, 'web');
    forced.metadata.annotations = { 'sluice.dev/force-conflicts': 'true' };
    const retried = h.deliver('drifty', [namespace(ns), forced, configMap(ns, 'new')], 3);
    await eventually(
      async () => (await getObject(kube, deployPath(ns, 'web')))?.spec.replicas === 2,
      'replicas 2',
    );
    await completeRollout(kube, ns, 'web');

    // THEN the manifest's value wins and the delivery succeeds
    expect((await retried).detailType).toBe('Deployment Succeeded');
  });

  it('heals the drift when selfHeal is on, without touching fields Sluice does not manage', async () => {
    // GIVEN a selfHeal app edited by kubectl on replicas, plus an annotation Sluice never set
    const h = harness(kube);
    const ns = uniqueName('heal');
    const delivered = h.deliver('healer', [namespace(ns), deployment(ns, 'web')], 1, { selfHeal: true });
    await eventually(
      async () => (await getObject(kube, deployPath(ns, 'web'))) !== undefined,
      'the deployment',
    );
    await completeRollout(kube, ns, 'web');
    expect((await delivered).detailType).toBe('Deployment Succeeded');
    await admin(kube).request(
      'PATCH',
      `${deployPath(ns, 'web')}?fieldManager=kubectl-edit`,
      { spec: { replicas: 7 }, metadata: { annotations: { 'team.example.com/owner': 'ops' } } },
      'application/merge-patch+json',
    );

    // WHEN drift is checked
    const drift = await checkDrift(h.deps, h.cluster, { app: 'healer', target: 'kind-local' });

    // THEN it is reported as healed, replicas are back, the foreign annotation stays
    expect(drift?.healed).toBe(true);
    expect(drift?.diffs.map((d) => d.path)).toEqual(['spec.replicas']);
    const live = await getObject(kube, deployPath(ns, 'web'));
    expect(live?.spec.replicas).toBe(2);
    expect(live?.metadata.annotations['team.example.com/owner']).toBe('ops');
    // AND the Drift Detected event is on the bus
    expect(readFileSync(h.eventsFile, 'utf8')).toContain('"detail-type":"Drift Detected"');
    // AND a second check finds nothing
    expect(await checkDrift(h.deps, h.cluster, { app: 'healer', target: 'kind-local' })).toBeUndefined();
  });

  it('reports a Secret changed by hand without showing its values', async () => {
    // GIVEN an applied Secret whose value someone replaced
    const h = harness(kube);
    const ns = uniqueName('sdrift');
    const value = `v-${uniqueName('x')}`;
    h.secrets.set('aws-sm://app/token#t', value);
    await h.deliver(
      'secretdrift',
      [
        namespace(ns),
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'tok', namespace: ns },
          stringData: { t: 'aws-sm://app/token#t' },
        },
      ],
      1,
    );
    await admin(kube).request(
      'PATCH',
      `/api/v1/namespaces/${ns}/secrets/tok?fieldManager=kubectl-edit`,
      { stringData: { t: 'hand-edited-value' } },
      'application/merge-patch+json',
    );

    // WHEN drift is checked
    const drift = await checkDrift(h.deps, h.cluster, { app: 'secretdrift', target: 'kind-local' });

    // THEN the key is named but neither value appears
    expect(drift?.diffs.map((d) => d.path)).toEqual(['data.t']);
    const text = JSON.stringify(drift);
    expect(text).not.toContain(value);
    expect(text).not.toContain(Buffer.from(value).toString('base64'));
    expect(text).not.toContain(Buffer.from('hand-edited-value').toString('base64'));
  });
});

/** Keeps the agent's warnings, so a test can see what it reported. */
class RecordingLogger extends Logger {
  readonly warnings: unknown[][] = [];
  override warn(...args: Parameters<Logger['warn']>): void {
    this.warnings.push(args);
  }
}

const queueRecord = (body: unknown): SQSRecord => ({
  messageId: `m-${uniqueName('msg')}`,
  receiptHandle: 'r',
  body: JSON.stringify(body),
  attributes: {
    ApproximateReceiveCount: '1',
    SentTimestamp: '0',
    SenderId: 'scheduler',
    ApproximateFirstReceiveTimestamp: '0',
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:local:000000000000:sluice-agent-local',
  awsRegion: 'local',
});

describe('agent handler: Drift Check Requested', () => {
  it('checks every requested app of each target, heals per selfHeal, and reports a failing app without stopping', async () => {
    // GIVEN three rolled-out apps: one edited with selfHeal, one edited without, one whose bundle is gone
    const h = harness(kube);
    const [healNs, keepNs, lostNs] = [
      uniqueName('sched-heal'),
      uniqueName('sched-keep'),
      uniqueName('sched-lost'),
    ];
    const healing = h.deliver('sched-heal', [namespace(healNs), deployment(healNs, 'web')], 1, {
      selfHeal: true,
    });
    await eventually(
      async () => (await getObject(kube, deployPath(healNs, 'web'))) !== undefined,
      'the deployment',
    );
    await completeRollout(kube, healNs, 'web');
    expect((await healing).detailType).toBe('Deployment Succeeded');
    await deliverAndRollOut(h, 'sched-keep', keepNs, 1);
    await deliverAndRollOut(h, 'sched-lost', lostNs, 1);
    for (const [ns, replicas] of [
      [healNs, 4],
      [keepNs, 6],
    ] as const) {
      const edit = await admin(kube).request(
        'PATCH',
        `${deployPath(ns, 'web')}?fieldManager=kubectl-edit`,
        { spec: { replicas } },
        'application/merge-patch+json',
      );
      expect(edit.status).toBe(200);
    }
    const lost = await h.cluster.readInventory('sched-lost');
    rmSync(join(h.bundleDir, lost?.source?.bundleKey ?? 'missing'));
    const logger = new RecordingLogger({ serviceName: 'sluice-agent-test' });
    const handler = createAgentHandler(h.deps, { logger });

    // WHEN the schedule's Drift Check Requested for the target, limited to these apps, arrives on the queue
    const result = await handler(
      {
        Records: [
          queueRecord({
            schemaVersion: 1,
            requestedBy: 'schedule',
            targets: ['onprem-1'],
            apps: ['sched-lost', 'sched-heal', 'sched-keep'],
          }),
        ],
      },
      localContext('sluice-agent', 60_000),
    );

    // THEN the message is done (a failing app is no reason to retry the others)
    expect(result?.batchItemFailures ?? []).toEqual([]);
    // AND Drift Detected is published for both edited apps, healed only where selfHeal is on
    const drifts = readFileSync(h.eventsFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { 'detail-type': string; detail: Record<string, unknown> })
      .filter((e) => e['detail-type'] === 'Drift Detected')
      .map((e) => [e.detail.app, e.detail.target, e.detail.healed]);
    expect(drifts.sort()).toEqual([
      ['sched-heal', 'onprem-1', true],
      ['sched-keep', 'onprem-1', false],
    ]);
    const replicas = async (ns: string) =>
      ((await getObject(kube, deployPath(ns, 'web'))) as { spec: { replicas: number } }).spec.replicas;
    expect(await replicas(healNs)).toBe(2);
    expect(await replicas(keepNs)).toBe(6);
    // AND the app that could not be checked is reported by name
    expect(logger.warnings).toEqual([
      ['drift check failed', expect.objectContaining({ app: 'sched-lost', target: 'onprem-1' })],
    ]);
  });
});
