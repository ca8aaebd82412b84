/**
 * The built-in policy pack. Every rendered bundle is checked before it may reach a cluster; a
 * violation names the policy, the object, its file, what is wrong and the concrete fix.
 * See docs/policies.md.
 */
import { BUILTIN_POLICIES, type BuiltinPolicy, secretRef } from '../schemas/config.ts';
import type { Violation } from '../schemas/events.ts';
import { objectRef, type RenderedObject } from './render.ts';

export { BUILTIN_POLICIES, type BuiltinPolicy };

type JsonMap = Record<string, unknown>;

const isMapping = (value: unknown): value is JsonMap =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const at = (value: unknown, ...path: string[]): unknown => {
  let node = value;
  for (const key of path) {
    if (!isMapping(node)) return undefined;
    node = node[key];
  }
  return node;
};

/** Where the pod spec sits in each workload kind, as a path of fields. */
const POD_SPEC_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

interface Container {
  name: string;
  /** e.g. `spec.template.spec.containers[name=web]`, for fix messages. */
  field: string;
  label: string;
  spec: JsonMap;
}

const containersOf = (object: RenderedObject['object']): Container[] => {
  const path = POD_SPEC_PATHS[object.kind];
  if (!path) return [];
  const podSpec = at(object, ...path);
  if (!isMapping(podSpec)) return [];
  const out: Container[] = [];
  for (const list of ['initContainers', 'containers'] as const) {
    const items = podSpec[list];
    if (!Array.isArray(items)) continue;
    items.forEach((item, i) => {
      if (!isMapping(item)) return;
      const name = typeof item.name === 'string' ? item.name : `#${i}`;
      out.push({
        name,
        field: `${path.join('.')}.${list}[${typeof item.name === 'string' ? `name=${name}` : i}]`,
        label: `${list === 'initContainers' ? 'initContainer' : 'container'} "${name}"`,
        spec: item,
      });
    });
  }
  return out;
};

type Check = (r: RenderedObject) => Omit<Violation, 'policy' | 'object' | 'file'>[];

/** `nginx`, `nginx:latest` → bad; `nginx:1.27`, `nginx@sha256:…` → fine. */
const imageProblem = (image: unknown): string | undefined => {
  if (typeof image !== 'string' || image.trim() === '') return 'has no image';
  if (image.includes('@sha256:')) return undefined;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.indexOf(':');
  if (colon === -1) return `image "${image}" has no tag (it means :latest)`;
  const tag = lastSegment.slice(colon + 1);
  if (tag === '' || tag === 'latest') return `image "${image}" uses the mutable tag :latest`;
  return undefined;
};

const noLatestTag: Check = ({ object }) =>
  containersOf(object).flatMap((c) => {
    const problem = imageProblem(c.spec.image);
    if (!problem) return [];
    const repo = typeof c.spec.image === 'string' ? c.spec.image.replace(/:latest$/, '') : 'REGISTRY/IMAGE';
    return [
      {
        message: `${c.label} ${problem}`,
        fix: `pin ${c.field}.image to a version tag or digest, e.g. ${repo}:1.2.3 or ${repo}@sha256:<digest>`,
      },
    ];
  });

const RESOURCE_FIELDS = [
  ['requests', 'cpu'],
  ['requests', 'memory'],
  ['limits', 'cpu'],
  ['limits', 'memory'],
] as const;

const present = (value: unknown): boolean =>
  (typeof value === 'string' && value.trim() !== '') || typeof value === 'number';

const resourcesRequired: Check = ({ object }) =>
  containersOf(object).flatMap((c) => {
    const missing = RESOURCE_FIELDS.filter(([kind, res]) => !present(at(c.spec, 'resources', kind, res))).map(
      ([kind, res]) => `resources.${kind}.${res}`,
    );
    if (missing.length === 0) return [];
    return [
      {
        message: `${c.label} is missing ${missing.join(', ')}`,
        fix: `set ${c.field}.resources to requests {cpu, memory} and limits {cpu, memory}, e.g. requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}`,
      },
    ];
  });

const noPrivileged: Check = ({ object }) =>
  containersOf(object).flatMap((c) => {
    const out: Omit<Violation, 'policy' | 'object' | 'file'>[] = [];
    if (at(c.spec, 'securityContext', 'privileged') === true) {
      out.push({
        message: `${c.label} sets securityContext.privileged: true (full access to the node)`,
        fix: `set ${c.field}.securityContext.privileged to false and grant only the capabilities it needs (securityContext.capabilities.add)`,
      });
    }
    if (at(c.spec, 'securityContext', 'allowPrivilegeEscalation') === true) {
      out.push({
        message: `${c.label} sets securityContext.allowPrivilegeEscalation: true`,
        fix: `set ${c.field}.securityContext.allowPrivilegeEscalation to false`,
      });
    }
    return out;
  });

const isSecretRef = (value: unknown): boolean =>
  typeof value === 'string' && secretRef.safeParse(value).success;

const noPlainSecrets: Check = ({ object }) => {
  if (object.kind !== 'Secret' || !/^v1$/.test(object.apiVersion)) return [];
  const out: Omit<Violation, 'policy' | 'object' | 'file'>[] = [];
  const data = object.data;
  if (isMapping(data)) {
    for (const key of Object.keys(data).sort()) {
      out.push({
        message: `data.${key} holds a secret value in Git (base64 is not encryption)`,
        fix: `remove data.${key} and put a reference in stringData instead, e.g. stringData: {${key}: "aws-sm://NAME#${key}"} or "vault://PATH#${key}"; Sluice resolves it at apply time`,
      });
    }
  }
  const stringData = object.stringData;
  if (isMapping(stringData)) {
    for (const key of Object.keys(stringData).sort()) {
      if (isSecretRef(stringData[key])) continue;
      out.push({
        message: `stringData.${key} holds a plain value, not a secret reference`,
        fix: `store the value in AWS Secrets Manager or Vault and set stringData.${key} to "aws-sm://NAME#${key}" or "vault://PATH#${key}"`,
      });
    }
  }
  return out;
};

const CHECKS: Readonly<Record<BuiltinPolicy, Check>> = {
  'no-latest-tag': noLatestTag,
  'resources-required': resourcesRequired,
  'no-privileged': noPrivileged,
  'no-plain-secrets': noPlainSecrets,
};

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Sorted by file, object, policy, message: the same bundle always reports the same list. */
export const compareViolations = (a: Violation, b: Violation): number =>
  cmp(a.file, b.file) || cmp(a.object, b.object) || cmp(a.policy, b.policy) || cmp(a.message, b.message);

/**
 * Runs every built-in policy not in `disabled` over the objects. Unknown names in `disabled`
 * are ignored (sluice.yaml's schema already rejects them).
 */
export const checkPolicies = (
  objects: readonly RenderedObject[],
  disabled: readonly string[],
): Violation[] => {
  const off = new Set(disabled);
  const violations: Violation[] = [];
  for (const policy of BUILTIN_POLICIES) {
    if (off.has(policy)) continue;
    for (const rendered of objects) {
      for (const found of CHECKS[policy](rendered)) {
        const patched = rendered.overlayFile ? ` (or in the overlay ${rendered.overlayFile})` : '';
        violations.push({
          policy,
          object: objectRef(rendered.object),
          file: rendered.file,
          message: found.message,
          fix: `${found.fix}${patched}`,
        });
      }
    }
  }
  return violations.sort(compareViolations);
};
