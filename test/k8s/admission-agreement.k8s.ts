/**
 * Sluice's in-process ValidatingAdmissionPolicy verdicts against the real kube-apiserver's:
 * the same policies are created in the test API server, every object of a corpus is sent as a
 * server-side dry-run CREATE, and the verdicts (and denial messages) must be the same.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { checkAdmission, loadAdmission } from '../../shared/core/admission.ts';
import type { RenderedObject } from '../../shared/core/render.ts';
import { checkSchemas } from '../../shared/core/schema-validation.ts';
import type { KubeObject } from '../../shared/ports/index.ts';
import { tempDir } from '../support/dev-harness.ts';
import { admin, uniqueName } from './harness.ts';

const kube = inject('kube');
const { request } = admin(kube);
const id = uniqueName('agree');
const ns = `${id}-apps`;
const paramsNs = `${id}-params`;

/** Bound only to namespaces labelled with this run's id, so other suites are never affected. */
const POLICIES = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: ${id}-replicas }
spec:
  failurePolicy: Fail
  paramKind: { apiVersion: v1, kind: ConfigMap }
  matchConstraints:
    resourceRules: [{ apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments] }]
  matchConditions:
    - { name: not-exempt, expression: "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)" }
  variables:
    - { name: limit, expression: "int(params.data.maxReplicas)" }
  validations:
    - expression: "object.spec.replicas <= variables.limit"
      messageExpression: "'replicas must be at most ' + string(variables.limit) + ', got ' + string(object.spec.replicas)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: ${id}-replicas }
spec:
  policyName: ${id}-replicas
  validationActions: [Deny]
  paramRef: { name: limits, namespace: ${paramsNs}, parameterNotFoundAction: Deny }
  matchResources: { namespaceSelector: { matchLabels: { agreement: ${id} } } }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: limits, namespace: ${paramsNs} }
data: { maxReplicas: "3" }
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: ${id}-configmaps }
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps] }]
  validations:
    - expression: "!has(object.data.memory) || quantity(object.data.memory).compareTo(quantity('1Gi')) <= 0"
      message: memory must be at most 1Gi
    - expression: "!has(object.data.cidr) || cidr('10.0.0.0/8').containsCIDR(object.data.cidr)"
      message: cidr must lie in 10.0.0.0/8
    - expression: "!has(object.data.endpoint) || url(object.data.endpoint).getScheme() == 'https'"
      message: endpoint must be https
    - expression: "!has(object.data.version) || semver(object.data.version).isGreaterThan(semver('1.0.0'))"
      message: version must be above 1.0.0
    - expression: "!has(object.data.owner) || !format.dns1123Label().validate(object.data.owner).hasValue()"
      messageExpression: "'owner: ' + format.dns1123Label().validate(object.data.owner).value()[0]"
    - expression: "!has(object.data.ports) || object.data.ports.split(',').map(p, int(p)).isSorted()"
      message: ports must be sorted
    - expression: "object.data.required == 'yes'"
      message: required must be yes
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: ${id}-configmaps }
spec:
  policyName: ${id}-configmaps
  validationActions: [Deny]
  matchResources: { namespaceSelector: { matchLabels: { agreement: ${id} } } }
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: ${id}-lenient }
spec:
  failurePolicy: Ignore
  matchConstraints:
    resourceRules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [services] }]
  validations: [{ expression: "object.metadata.labels.tier == 'web'" }]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: ${id}-lenient }
spec:
  policyName: ${id}-lenient
  validationActions: [Deny]
  matchResources: { namespaceSelector: { matchLabels: { agreement: ${id} } } }
`;

const deployment = (name: string, replicas: number, labels: Record<string, string> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns, labels: { app: name, ...labels } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'app', image: 'registry.example/app:1.0.0' }] },
    },
  },
});

const configMap = (name: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data: { required: 'yes', ...data },
});

const service = (name: string, labels?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns, ...(labels ? { labels } : {}) },
  spec: { ports: [{ port: 80 }] },
});

const CORPUS = [
  deployment('small', 2),
  deployment('big', 5),
  deployment('big-exempt', 5, { exempt: 'yes' }),
  configMap('fine', {
    memory: '512Mi',
    cidr: '10.1.0.0/16',
    endpoint: 'https://x.example',
    version: '1.2.0',
  }),
  configMap('too-much-memory', { memory: '1.5Gi' }),
  configMap('memory-exactly-1gi', { memory: '1024Mi' }),
  configMap('outside-cidr', { cidr: '192.168.0.0/16' }),
  configMap('http-endpoint', { endpoint: 'http://x.example/a' }),
  configMap('old-version', { version: '1.0.0-rc.1' }),
  configMap('bad-owner', { owner: 'Team_A' }),
  configMap('good-owner', { owner: 'team-a', ports: '80,443,8080' }),
  configMap('unsorted-ports', { ports: '443,80' }),
  { ...configMap('not-required', {}), data: { required: 'no' } },
  { ...configMap('no-data', {}), data: undefined },
  service('svc-web', { tier: 'web' }),
  service('svc-api', { tier: 'api' }),
  service('svc-unlabelled'),
] as unknown as KubeObject[];

const resourcePath = (o: KubeObject) =>
  o.kind === 'Deployment'
    ? `/apis/apps/v1/namespaces/${ns}/deployments`
    : `/api/v1/namespaces/${ns}/${o.kind === 'ConfigMap' ? 'configmaps' : 'services'}`;

/** The API server's verdict on a dry-run CREATE: undefined when admitted, else its message. */
const serverVerdict = async (o: KubeObject): Promise<string | undefined> => {
  const res = await request('POST', `${resourcePath(o)}?dryRun=All&fieldValidation=Strict`, o);
  if (res.status < 300) return undefined;
  return String((res.json as { message?: string }).message);
};

const apply = async (o: Record<string, unknown>) => {
  const kind = String(o.kind);
  const meta = o.metadata as { name: string; namespace?: string };
  const base =
    kind === 'ValidatingAdmissionPolicy'
      ? '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies'
      : kind === 'ValidatingAdmissionPolicyBinding'
        ? '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings'
        : kind === 'Namespace'
          ? '/api/v1/namespaces'
          : `/api/v1/namespaces/${meta.namespace}/configmaps`;
  const res = await request(
    'PATCH',
    `${base}/${meta.name}?fieldManager=agreement&force=true`,
    o,
    'application/apply-patch+yaml',
  );
  if (res.status >= 300) throw new Error(`creating ${kind}/${meta.name} failed: ${JSON.stringify(res.json)}`);
};

const policyObjects = parseAllDocuments(POLICIES).map((d) => d.toJS() as Record<string, unknown>);

const oursFor = async (): Promise<(string | undefined)[]> => {
  const dir = await tempDir('agreement');
  await mkdir(path.join(dir, 'policies'), { recursive: true });
  await writeFile(path.join(dir, 'policies', 'all.yaml'), POLICIES);
  await writeFile(
    path.join(dir, 'policies', 'namespaces.yaml'),
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns}, labels: { agreement: ${id} } }\n`,
  );
  const set = await loadAdmission(createDirectoryTree(dir), ['policies']);
  const schemas = await fileK8sSchemas().load('1.34');
  return CORPUS.map((object) => {
    const [found] = checkAdmission(set, [{ object, file: 'corpus.yaml' }], { schemas, crds: new Map() });
    return found?.message;
  });
};

describe('ValidatingAdmissionPolicy verdicts agree with kube-apiserver', () => {
  beforeAll(async () => {
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { agreement: id } } });
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: paramsNs } });
    for (const o of policyObjects) await apply(o);
    // Policies take effect once the API server's informers have seen them and their params.
    // Each policy is probed with an object it must deny.
    const probes = [
      deployment('probe', 9),
      { ...configMap('probe', {}), data: { required: 'no' } },
      service('probe', { tier: 'api' }),
    ] as unknown as KubeObject[];
    const deadline = Date.now() + 60_000;
    for (const probe of probes) {
      while ((await serverVerdict(probe)) === undefined) {
        if (Date.now() > deadline) throw new Error('the policies never took effect in the API server');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  });

  afterAll(async () => {
    for (const o of policyObjects.filter((p) => String(p.kind).startsWith('ValidatingAdmissionPolicy'))) {
      const plural =
        o.kind === 'ValidatingAdmissionPolicy'
          ? 'validatingadmissionpolicies'
          : 'validatingadmissionpolicybindings';
      const name = (o.metadata as { name: string }).name;
      await request('DELETE', `/apis/admissionregistration.k8s.io/v1/${plural}/${name}`);
    }
    await request('DELETE', `/api/v1/namespaces/${ns}`);
    await request('DELETE', `/api/v1/namespaces/${paramsNs}`);
  });

  it('denies and admits the same objects, with the same messages', async () => {
    // GIVEN the same policies in the API server and in Sluice, and a corpus exercising params,
    // matchConditions, variables, messageExpression, failurePolicy and the CEL libraries
    // WHEN each object is judged by both
    const server: (string | undefined)[] = [];
    for (const o of CORPUS) server.push(await serverVerdict(o));
    const ours = await oursFor();
    // THEN the verdicts are the same, and every Sluice message is the API server's message
    const names = CORPUS.map((o) => o.metadata.name);
    expect(names.map((n, i) => [n, ours[i] !== undefined])).toEqual(
      names.map((n, i) => [n, server[i] !== undefined]),
    );
    for (const [i, message] of ours.entries()) if (message) expect(server[i]).toContain(message);
    // and the corpus is not trivial: both verdicts occur
    expect(ours.filter(Boolean).length).toBeGreaterThan(3);
    expect(ours.filter((m) => m === undefined).length).toBeGreaterThan(3);
  });

  it('agrees with strict field validation on unknown fields and wrong types', async () => {
    // GIVEN objects the schema layer should reject, and one it should accept, in a namespace no policy binds
    const plain = (o: Record<string, unknown>) => ({
      ...o,
      metadata: { ...(o.metadata as object), namespace: paramsNs },
    });
    const objects = [
      plain(deployment('typed-ok', 1)),
      plain({ ...deployment('typed-bad', 1), spec: { ...deployment('x', 1).spec, replicas: 'two' } }),
      plain({ ...configMap('unknown-field', {}), extra: { a: 1 } }),
    ] as unknown as KubeObject[];
    // WHEN judged by the API server (dry-run, strict) and by the schema layer
    const server: boolean[] = [];
    for (const o of objects) {
      const url = `${o.kind === 'Deployment' ? `/apis/apps/v1/namespaces/${paramsNs}/deployments` : `/api/v1/namespaces/${paramsNs}/configmaps`}?dryRun=All&fieldValidation=Strict`;
      server.push((await request('POST', url, o)).status >= 300);
    }
    const schemas = (await fileK8sSchemas().load('1.34'))!;
    const ours = objects.map(
      (object) =>
        checkSchemas([{ object, file: 'x.yaml' } as RenderedObject], { schemas, crds: new Map() }).length > 0,
    );
    // THEN both reject the same ones
    expect(ours).toEqual(server);
    expect(ours).toEqual([false, true, true]);
  });
});
