import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { checkAdmission, loadAdmission } from '../../shared/core/admission.ts';
import type { RenderedObject } from '../../shared/core/render.ts';
import type { KubeObject } from '../../shared/ports/index.ts';
import { tempDir } from '../support/dev-harness.ts';

const schemas = await fileK8sSchemas().load('1.34');

const policyFile = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: replica-limit }
spec:
  failurePolicy: Fail
  paramKind: { apiVersion: v1, kind: ConfigMap }
  matchConstraints:
    resourceRules:
      - { apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments] }
  matchConditions:
    - name: not-exempt
      expression: "!('exempt' in object.metadata.?labels.orValue({}))"
  variables:
    - name: limit
      expression: int(params.data.maxReplicas)
  validations:
    - expression: object.spec.replicas <= variables.limit
      messageExpression: "'replicas must be at most ' + string(variables.limit) + ', got ' + string(object.spec.replicas)"
      reason: Invalid
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: replica-limit-prod }
spec:
  policyName: replica-limit
  validationActions: [Deny]
  paramRef: { name: replica-limit, namespace: policy-params, parameterNotFoundAction: Deny }
  matchResources:
    namespaceSelector: { matchLabels: { env: prod } }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: replica-limit, namespace: policy-params }
data: { maxReplicas: "5" }
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: team-label }
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - { apiGroups: ["*"], apiVersions: ["*"], operations: ["*"], resources: ["*"], scope: Namespaced }
    objectSelector: { matchExpressions: [{ key: sluice.dev/skip, operator: DoesNotExist }] }
  validations:
    - expression: object.metadata.labels.team != ""
      message: every namespaced object needs a team label
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: team-label }
spec: { policyName: team-label, validationActions: [Deny] }
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: lenient }
spec:
  failurePolicy: Ignore
  matchConstraints:
    resourceRules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps] }]
  validations: [{ expression: object.data.required == "yes" }]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: lenient }
spec: { policyName: lenient, validationActions: [Deny] }
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: warn-only }
spec:
  matchConstraints:
    resourceRules: [{ apiGroups: ["*"], apiVersions: ["*"], operations: [CREATE], resources: ["*"] }]
  validations: [{ expression: "false" }]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: warn-only }
spec: { policyName: warn-only, validationActions: [Warn, Audit] }
`;

const load = async (text = policyFile) => {
  const dir = await tempDir('admission');
  await mkdir(path.join(dir, 'policies'), { recursive: true });
  await writeFile(path.join(dir, 'policies', 'all.yaml'), text);
  return loadAdmission(createDirectoryTree(dir), ['policies']);
};

const obj = (object: Record<string, unknown>, file = 'apps/web/x.yaml'): RenderedObject => ({
  object: object as unknown as KubeObject,
  file,
});

const namespace = (name: string, labels: Record<string, string>) =>
  obj({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, 'apps/web/ns.yaml');

const deployment = (ns: string, replicas: number, labels: Record<string, string> = { team: 'web' }) =>
  obj({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `web-${replicas}`, namespace: ns, labels },
    spec: { replicas },
  });

const judge = async (objects: RenderedObject[], text?: string) =>
  checkAdmission(await load(text), objects, { schemas, crds: new Map() }).map((v) => [
    v.policy,
    v.object,
    v.message,
  ]);

describe('checkAdmission', () => {
  it('denies with params, variables and messageExpression only where the binding matches', async () => {
    // GIVEN a prod namespace (by label) and a dev one, and Deployments of 3 and 9 replicas in each
    const objects = [
      namespace('prod', { env: 'prod', team: 'web' }),
      namespace('dev', { env: 'dev' }),
      deployment('prod', 3),
      deployment('prod', 9),
      deployment('dev', 9),
    ];
    // WHEN judged
    // THEN only the prod Deployment over the ConfigMap's limit is denied, in the API server's words
    expect(await judge(objects)).toEqual([
      [
        'replica-limit',
        'Deployment/prod/web-9',
        "ValidatingAdmissionPolicy 'replica-limit' with binding 'replica-limit-prod' denied request: replicas must be at most 5, got 9",
      ],
    ]);
  });

  it('skips objects excluded by matchConditions and objectSelector', async () => {
    // GIVEN an exempt Deployment over the limit, and a Service marked sluice.dev/skip without a team
    const objects = [
      namespace('prod', { env: 'prod' }),
      deployment('prod', 9, { team: 'web', exempt: 'true' }),
      obj({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's', namespace: 'prod', labels: { 'sluice.dev/skip': 'y' } },
      }),
    ];
    // WHEN judged THEN nothing is denied
    expect(await judge(objects)).toEqual([]);
  });

  it('applies failurePolicy to expression errors: Fail denies, Ignore allows', async () => {
    // GIVEN a ConfigMap with no labels (team-label errors: no such key) and no data.required (lenient errors)
    const objects = [obj({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'dev' } })];
    // WHEN judged THEN team-label (Fail) denies with the error; lenient (Ignore) and warn-only stay silent
    const found = await judge(objects);
    expect(found.map(([policy]) => policy)).toEqual(['team-label']);
    expect(found[0]![2]).toMatch(
      /^ValidatingAdmissionPolicy 'team-label' with binding 'team-label' denied request: expression 'object.metadata.labels.team != ""' resulted in error: no such key: labels/,
    );
  });

  it('uses message for a failed validation and treats cluster-scoped objects as outside the namespace scope', async () => {
    // GIVEN a namespaced Secret without a team label and a ClusterRole without one
    const objects = [
      obj({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's', namespace: 'dev', labels: { team: '' } },
      }),
      obj({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'r' } }),
    ];
    // WHEN judged THEN only the Secret is denied, with the policy's message
    expect(await judge(objects)).toEqual([
      [
        'team-label',
        'Secret/dev/s',
        "ValidatingAdmissionPolicy 'team-label' with binding 'team-label' denied request: every namespaced object needs a team label",
      ],
    ]);
  });

  it('denies when the params a binding names are missing, unless parameterNotFoundAction is Allow', async () => {
    // GIVEN the policies without the ConfigMap the binding's paramRef names
    const withoutParams = policyFile.replace(
      /---\napiVersion: v1\nkind: ConfigMap[\s\S]*?maxReplicas: "5" }\n/,
      '',
    );
    const objects = [namespace('prod', { env: 'prod', team: 'x' }), deployment('prod', 1)];
    // WHEN judged, then judged again with Allow
    const denied = await judge(objects, withoutParams);
    const allowed = await judge(
      objects,
      withoutParams.replace('parameterNotFoundAction: Deny', 'parameterNotFoundAction: Allow'),
    );
    // THEN the binding denies for lack of params, and allows once told to
    expect(denied.map(([p, o]) => `${p} ${o}`)).toEqual(['replica-limit Deployment/prod/web-1']);
    expect(denied[0]![2]).toMatch(/no params found for policy binding with `Deny` parameterNotFoundAction/);
    expect(allowed).toEqual([]);
  });
});
