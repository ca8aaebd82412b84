/**
 * The built-in policy pack. Every rendered bundle is checked before it may reach a cluster; a
 * violation names the policy, the object, its file, what is wrong and the concrete fix.
 * See docs/policies.md.
 */
import { BUILTIN_POLICIES, type BuiltinPolicy, secretRef } from '../schemas/config.ts';
import type { Violation } from '../schemas/events.ts';
import { objectRef, type RenderedObject } from './render.ts';
import { isEncryptedValue } from './sops.ts';

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
      if (isEncryptedValue(data[key])) continue; // SOPS: encrypted in Git, decrypted by the agent
      out.push({
        message: `data.${key} holds a secret value in Git (base64 is not encryption)`,
        fix: `remove data.${key} and put a reference in stringData instead, e.g. stringData: {${key}: "aws-sm://NAME#${key}"} or "vault://PATH#${key}"; Sluice resolves it at apply time`,
      });
    }
  }
  const stringData = object.stringData;
  if (isMapping(stringData)) {
    for (const key of Object.keys(stringData).sort()) {
      if (isSecretRef(stringData[key]) || isEncryptedValue(stringData[key])) continue;
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

/**
 * The `kubernetes-names` check: names become URL path segments in the API, file names in
 * directory targets and `sluice render --out`, and label values, so each must satisfy the
 * Kubernetes rule for its type before anything uses it. It cannot be disabled.
 */
export const NAMES_POLICY = 'kubernetes-names';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KIND = /^[A-Za-z][A-Za-z0-9]{0,62}$/;
const API_VERSION =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** RBAC objects may use any path segment name, e.g. `system:aggregate-to-view`. */
const PATH_SEGMENT_NAMED = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

/** Why `name` cannot be a path segment (the rule every Kubernetes name obeys), if it cannot. */
const pathSegmentProblem = (name: string): string | undefined => {
  if (name === '.' || name === '..') return 'may not be "." or ".."';
  if (/[/%]/.test(name)) return 'may not contain "/" or "%"';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'may not contain control characters';
  if (name.length > 253) return 'may not be longer than 253 characters';
  return undefined;
};

const nameRule = (kind: string): { test: (name: string) => boolean; rule: string } => {
  if (kind === 'Namespace') return { test: (n) => DNS_LABEL.test(n), rule: 'a DNS-1123 label' };
  if (kind === 'Service') return { test: (n) => DNS_1035_LABEL.test(n), rule: 'a DNS-1035 label' };
  if (PATH_SEGMENT_NAMED.has(kind)) return { test: () => true, rule: 'a path segment name' };
  return { test: (n) => DNS_SUBDOMAIN.test(n), rule: 'a DNS-1123 subdomain' };
};

const RULE_TEXT: Readonly<Record<string, string>> = {
  'a DNS-1123 label':
    'at most 63 lower-case letters, digits and "-", starting and ending with a letter or digit',
  'a DNS-1035 label': 'at most 63 lower-case letters, digits and "-", starting with a letter',
  'a DNS-1123 subdomain':
    'at most 253 lower-case letters, digits, "-" and ".", each part starting and ending with a letter or digit',
  'a path segment name': 'any name except "." and "..", without "/" or "%"',
};

/** Every name problem of one rendered object: kind, apiVersion, metadata.name, metadata.namespace. */
export const checkNames = (rendered: RenderedObject): Violation[] => {
  const { object } = rendered;
  const found: { message: string; fix: string }[] = [];
  const kind = String(object.kind);
  if (!KIND.test(kind)) {
    found.push({
      message: `kind ${JSON.stringify(kind)} is not a Kubernetes kind`,
      fix: 'use the CamelCase kind the API serves, e.g. Deployment (letters and digits only)',
    });
  }
  if (!API_VERSION.test(String(object.apiVersion))) {
    found.push({
      message: `apiVersion ${JSON.stringify(object.apiVersion)} is not GROUP/VERSION or VERSION`,
      fix: 'use the apiVersion the API serves, e.g. apps/v1 or v1',
    });
  }
  const name = String(object.metadata.name);
  const segment = pathSegmentProblem(name);
  const { test, rule } = nameRule(kind);
  if (segment || !test(name)) {
    found.push({
      message: `metadata.name ${JSON.stringify(name)} of a ${kind} must be ${rule}${segment ? ` and ${segment}` : ''}`,
      fix: `rename it: ${RULE_TEXT[rule]}`,
    });
  }
  const namespace = object.metadata.namespace;
  if (namespace !== undefined && !DNS_LABEL.test(String(namespace))) {
    found.push({
      message: `metadata.namespace ${JSON.stringify(namespace)} must be a DNS-1123 label`,
      fix: `use a namespace name of ${RULE_TEXT['a DNS-1123 label']}`,
    });
  }
  return found.map((f) => ({
    policy: NAMES_POLICY,
    object: JSON.stringify(objectRef(object)).slice(1, -1),
    file: rendered.file,
    ...f,
  }));
};

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
  // Names are checked whatever is disabled: a bad one is unsafe to use, not a style choice.
  const violations: Violation[] = objects.flatMap(checkNames);
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
