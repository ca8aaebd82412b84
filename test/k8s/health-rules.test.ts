import { describe, expect, it } from 'vitest';
import { diffObject, REDACTED } from '../../shared/core/drift.ts';
import { assessHealth, healthDeadlineMs, summarizeHealth } from '../../shared/core/health.ts';
import type { LiveObject } from '../../shared/ports/index.ts';

const obj = (
  apiVersion: string,
  kind: string,
  rest: Partial<LiveObject> = {},
  generation = 2,
): LiveObject => ({
  apiVersion,
  kind,
  metadata: { name: 'x', namespace: 'ns', generation },
  ...rest,
});

describe('assessHealth (kubectl rollout status rules)', () => {
  it.each([
    [
      'a StatefulSet with a pod not ready',
      obj('apps/v1', 'StatefulSet', {
        spec: { replicas: 3 },
        status: { observedGeneration: 2, readyReplicas: 2, currentRevision: 'a', updateRevision: 'a' },
      }),
      'Progressing',
      '2 of 3 pods are ready',
    ],
    [
      'a StatefulSet mid revision change',
      obj('apps/v1', 'StatefulSet', {
        spec: { replicas: 2 },
        status: {
          observedGeneration: 2,
          readyReplicas: 2,
          updatedReplicas: 1,
          currentRevision: 'a',
          updateRevision: 'b',
        },
      }),
      'Progressing',
      'revision b',
    ],
    [
      'a partitioned StatefulSet whose unpartitioned pods are updated',
      obj('apps/v1', 'StatefulSet', {
        spec: { replicas: 4, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
        status: {
          observedGeneration: 2,
          readyReplicas: 4,
          updatedReplicas: 2,
          currentRevision: 'a',
          updateRevision: 'b',
        },
      }),
      'Healthy',
      'partitioned',
    ],
    [
      'a DaemonSet with pods not yet available',
      obj('apps/v1', 'DaemonSet', {
        status: {
          observedGeneration: 2,
          desiredNumberScheduled: 3,
          updatedNumberScheduled: 3,
          numberAvailable: 1,
        },
      }),
      'Progressing',
      '1 of 3',
    ],
    [
      'a DaemonSet not yet observed',
      obj('apps/v1', 'DaemonSet', { status: { observedGeneration: 1 } }),
      'Progressing',
      'observed',
    ],
    [
      'a failed Job',
      obj('batch/v1', 'Job', {
        status: { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] },
      }),
      'Failed',
      'BackoffLimitExceeded',
    ],
    [
      'a complete Job',
      obj('batch/v1', 'Job', { status: { conditions: [{ type: 'Complete', status: 'True' }] } }),
      'Healthy',
      'completed',
    ],
    [
      'a custom resource whose Ready is False',
      obj('example.com/v1', 'Widget', {
        status: { conditions: [{ type: 'Ready', status: 'False', reason: 'Waiting' }] },
      }),
      'Progressing',
      'Ready is False (Waiting)',
    ],
    [
      'a custom resource that is Stalled',
      obj('example.com/v1', 'Widget', {
        status: { conditions: [{ type: 'Stalled', status: 'True', reason: 'BadSpec' }] },
      }),
      'Failed',
      'BadSpec',
    ],
    ['a ConfigMap', obj('v1', 'ConfigMap'), 'Healthy', 'exists'],
  ])('GIVEN %s THEN it is %s', (_what, live, state, message) => {
    // WHEN its health is assessed
    const health = assessHealth(live, live);
    // THEN state and reason match what kubectl would say
    expect(health.state).toBe(state);
    expect(health.message).toContain(message);
  });

  it('GIVEN one failed and one progressing object WHEN summarised THEN the app is Failed, naming the failed one', () => {
    const summary = summarizeHealth([
      { object: 'Job/ns/a', state: 'Failed', message: 'failed' },
      { object: 'Deployment/ns/b', state: 'Progressing', message: 'waiting' },
    ]);
    expect(summary).toEqual({
      state: 'Failed',
      atFault: [{ object: 'Job/ns/a', state: 'Failed', message: 'failed' }],
    });
  });

  it('GIVEN an object annotated with a health deadline WHEN the deadline is computed THEN it wins over the default', () => {
    const annotated = obj('v1', 'ConfigMap');
    annotated.metadata.annotations = { 'sluice.dev/health-deadline-seconds': '900' };
    expect(healthDeadlineMs([obj('v1', 'ConfigMap'), annotated], 1000)).toBe(900_000);
    expect(healthDeadlineMs([obj('v1', 'ConfigMap')], 1000)).toBe(1000);
  });
});

describe('diffObject', () => {
  it('GIVEN a container image changed live WHEN diffed THEN the path names the container by name', () => {
    const desired = obj('apps/v1', 'Deployment', {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'web', image: 'a:1' },
              { name: 'side', image: 's:1' },
            ],
          },
        },
      },
    });
    const live = obj('apps/v1', 'Deployment', {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'web', image: 'a:2' },
              { name: 'side', image: 's:1' },
            ],
          },
        },
      },
      status: { replicas: 9 },
    });
    live.metadata.resourceVersion = '99';
    live.metadata.managedFields = [
      {
        manager: 'kubectl-set',
        fieldsV1: {
          'f:spec': {
            'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { 'f:image': {} } } } },
          },
        },
      },
    ];
    expect(diffObject(desired, live)).toEqual([
      {
        object: 'Deployment/ns/x',
        path: 'spec.template.spec.containers[name=web].image',
        desired: 'a:1',
        live: 'a:2',
        manager: 'kubectl-set',
      },
    ]);
  });

  it('GIVEN a Secret changed live WHEN diffed THEN values are redacted', () => {
    const desired = obj('v1', 'Secret', { data: { k: 'YQ==' } });
    const live = obj('v1', 'Secret', { data: { k: 'Yg==' } });
    expect(diffObject(desired, live)).toEqual([
      { object: 'Secret/ns/x', path: 'data.k', desired: REDACTED, live: REDACTED },
    ]);
  });
});
