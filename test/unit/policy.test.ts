import { describe, expect, it } from 'vitest';
import { checkPolicies } from '../../shared/core/policy.ts';
import type { RenderedObject } from '../../shared/core/render.ts';

type Container = Record<string, unknown>;

const goodContainer = (over: Container = {}): Container => ({
  name: 'app',
  image: 'ghcr.io/acme/app:1.2.3',
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
  securityContext: { privileged: false, allowPrivilegeEscalation: false },
  ...over,
});

const deployment = (containers: Container[], initContainers: Container[] = []): RenderedObject => ({
  file: 'apps/web/deploy.yaml',
  object: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'web' },
    spec: { template: { spec: { containers, initContainers } } },
  },
});

const cronJob = (container: Container): RenderedObject => ({
  file: 'apps/web/cron.yaml',
  object: {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'nightly' },
    spec: { jobTemplate: { spec: { template: { spec: { containers: [container] } } } } },
  },
});

const secret = (body: Record<string, unknown>): RenderedObject => ({
  file: 'apps/web/secret.yaml',
  object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'web' }, ...body },
});

const policiesOf = (objects: RenderedObject[], disabled: string[] = []) =>
  checkPolicies(objects, disabled).map((v) => v.policy);

describe('checkPolicies', () => {
  it('passes a workload that follows every policy', () => {
    // GIVEN compliant Deployment, CronJob and a Secret holding only references
    const objects = [
      deployment(
        [goodContainer()],
        [goodContainer({ name: 'init', image: `busybox@sha256:${'a'.repeat(64)}` })],
      ),
      cronJob(goodContainer()),
      secret({ stringData: { url: 'aws-sm://db#url', token: 'vault://kv/web#token' } }),
    ];
    // WHEN checked THEN nothing is reported
    expect(checkPolicies(objects, [])).toEqual([]);
  });

  describe('no-latest-tag', () => {
    it.each([
      ['an untagged image', 'nginx', /has no tag/],
      ['the :latest tag', 'registry:5000/team/nginx:latest', /uses the mutable tag :latest/],
    ])('rejects %s', (_, image, message) => {
      // GIVEN a container with a mutable image WHEN checked
      const [v] = checkPolicies([deployment([goodContainer({ image })])], []);
      // THEN the violation names the container and says how to pin it
      expect(v).toMatchObject({
        policy: 'no-latest-tag',
        object: 'Deployment/web/web',
        file: 'apps/web/deploy.yaml',
        message: expect.stringMatching(message),
        fix: expect.stringContaining('spec.template.spec.containers[name=app].image'),
      });
    });

    it('accepts a registry with a port and a version tag', () => {
      expect(policiesOf([deployment([goodContainer({ image: 'registry:5000/team/nginx:1.27' })])])).toEqual(
        [],
      );
    });
  });

  describe('resources-required', () => {
    it('names each missing request and limit of a container in a CronJob', () => {
      // GIVEN a CronJob whose container only has a cpu request
      const objects = [cronJob(goodContainer({ name: 'job', resources: { requests: { cpu: '1' } } }))];
      // WHEN checked THEN the three missing fields are named
      expect(checkPolicies(objects, [])).toEqual([
        expect.objectContaining({
          policy: 'resources-required',
          object: 'CronJob/nightly',
          message:
            'container "job" is missing resources.requests.memory, resources.limits.cpu, resources.limits.memory',
        }),
      ]);
    });

    it('checks initContainers too', () => {
      const objects = [
        deployment([goodContainer()], [goodContainer({ name: 'migrate', resources: undefined })]),
      ];
      expect(checkPolicies(objects, []).map((v) => v.message)).toEqual([
        'initContainer "migrate" is missing resources.requests.cpu, resources.requests.memory, resources.limits.cpu, resources.limits.memory',
      ]);
    });
  });

  describe('no-privileged', () => {
    it('rejects privileged and allowPrivilegeEscalation', () => {
      // GIVEN one privileged container and one that may escalate
      const objects = [
        deployment([
          goodContainer({ name: 'a', securityContext: { privileged: true } }),
          goodContainer({ name: 'b', securityContext: { allowPrivilegeEscalation: true } }),
        ]),
      ];
      // WHEN checked THEN both are reported, naming container and field
      expect(checkPolicies(objects, []).map((v) => `${v.policy}: ${v.message}`)).toEqual([
        'no-privileged: container "a" sets securityContext.privileged: true (full access to the node)',
        'no-privileged: container "b" sets securityContext.allowPrivilegeEscalation: true',
      ]);
    });

    it('accepts privileged: false', () => {
      expect(policiesOf([deployment([goodContainer({ securityContext: { privileged: false } })])])).toEqual(
        [],
      );
    });
  });

  describe('no-plain-secrets', () => {
    it('rejects data and plain stringData but allows secret references', () => {
      // GIVEN a Secret with base64 data, a plain stringData value and a reference
      const objects = [
        secret({ data: { password: 'aHVudGVyMg==' }, stringData: { user: 'admin', url: 'aws-sm://db#url' } }),
      ];
      // WHEN checked THEN the data key and the plain value are reported, the reference is not
      expect(checkPolicies(objects, []).map((v) => [v.object, v.message])).toEqual([
        ['Secret/web/db', 'data.password holds a secret value in Git (base64 is not encryption)'],
        ['Secret/web/db', 'stringData.user holds a plain value, not a secret reference'],
      ]);
    });

    it('accepts a Secret with empty data', () => {
      expect(policiesOf([secret({ data: {} })])).toEqual([]);
    });
  });

  it('skips disabled policies and only those', () => {
    // GIVEN an object violating two policies
    const objects = [deployment([goodContainer({ image: 'nginx', securityContext: { privileged: true } })])];
    // WHEN one of them is disabled THEN only the other is reported
    expect(policiesOf(objects)).toEqual(['no-latest-tag', 'no-privileged']);
    expect(policiesOf(objects, ['no-privileged'])).toEqual(['no-latest-tag']);
  });

  it('sorts violations deterministically regardless of input order', () => {
    const objects = [secret({ data: { b: 'x', a: 'y' } }), deployment([goodContainer({ image: 'nginx' })])];
    expect(checkPolicies([...objects].reverse(), [])).toEqual(checkPolicies(objects, []));
    expect(checkPolicies(objects, []).map((v) => v.file)).toEqual([
      'apps/web/deploy.yaml',
      'apps/web/secret.yaml',
      'apps/web/secret.yaml',
    ]);
  });
});
