/**
 * ValidatingAdmissionPolicy, in process: the ValidatingAdmissionPolicies, bindings and params
 * kept in the config repo (`policies.admission` in sluice.yaml) judge every rendered object as
 * the API server would judge its CREATE: matchConstraints and the binding's matchResources,
 * matchConditions, variables, validations with message/messageExpression, paramKind/paramRef,
 * failurePolicy and validationActions (Deny is a violation; Warn and Audit never block and are
 * not reported). CEL comes from ./cel.ts. Pure: files come through the SourceTree port.
 */
import { parseAllDocuments } from 'yaml';
import type { KubeObject, KubeSchemas, SourceTree } from '../ports/index.ts';
import type { Violation } from '../schemas/events.ts';
import { createCelEnvironment, toCel } from './cel.ts';
import { isClusterScoped, objectRef, type RenderedObject } from './render.ts';
import type { CrdKind } from './schema-validation.ts';

type JsonMap = Record<string, unknown>;

const isMapping = (value: unknown): value is JsonMap =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const maps = (value: unknown): JsonMap[] => (Array.isArray(value) ? value.filter(isMapping) : []);
const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

const ADMISSION_GROUP = 'admissionregistration.k8s.io/';

/** An object read from the admission paths, with its file. */
interface Sourced {
  readonly object: KubeObject & JsonMap;
  readonly file: string;
}

type Program = (context: JsonMap) => unknown;

interface Compiled {
  readonly source: string;
  readonly run: Program;
}

interface Policy {
  readonly name: string;
  readonly file: string;
  readonly spec: JsonMap;
  readonly failOpen: boolean;
  readonly matchConditions: readonly (Compiled & { name: string })[];
  readonly variables: readonly (Compiled & { name: string })[];
  readonly validations: readonly {
    expression: Compiled;
    message?: string;
    messageExpression?: Compiled;
    reason: string;
  }[];
}

interface Binding {
  readonly name: string;
  readonly file: string;
  readonly policy: Policy;
  readonly spec: JsonMap;
  readonly deny: boolean;
}

/** The admission policies of one commit, compiled once. */
export interface AdmissionSet {
  readonly bindings: readonly Binding[];
  /** Every other object of the admission paths: params, and Namespaces for namespaceSelector. */
  readonly objects: readonly Sourced[];
}

export const EMPTY_ADMISSION: AdmissionSet = { bindings: [], objects: [] };

const env = createCelEnvironment();

/** Compiles once; a compile error surfaces when the policy runs, as on the API server. */
const compile = (source: string): Compiled => {
  try {
    const parsed = env.parse(source);
    return { source, run: (context) => parsed(context) };
  } catch (error) {
    const message = `compilation failed: ${(error as Error).message.split('\n')[0]}`;
    return {
      source,
      run: () => {
        throw new Error(message);
      },
    };
  }
};

const compilePolicy = (p: Sourced): Policy => {
  const spec = isMapping(p.object.spec) ? p.object.spec : {};
  const named = (items: unknown) =>
    maps(items).map((m) => ({ name: String(m.name ?? ''), ...compile(String(m.expression ?? '')) }));
  return {
    name: p.object.metadata.name,
    file: p.file,
    spec,
    failOpen: spec.failurePolicy === 'Ignore',
    matchConditions: named(spec.matchConditions),
    variables: named(spec.variables),
    validations: maps(spec.validations).map((v) => ({
      expression: compile(String(v.expression ?? '')),
      ...(typeof v.message === 'string' ? { message: v.message } : {}),
      ...(typeof v.messageExpression === 'string' ? { messageExpression: compile(v.messageExpression) } : {}),
      reason: typeof v.reason === 'string' ? v.reason : 'Invalid',
    })),
  };
};

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const yamlFilesUnder = async (tree: SourceTree, path: string): Promise<string[]> => {
  if ((await tree.read(path)) !== undefined) return [path];
  return (await tree.list(path)).filter((f) => /\.ya?ml$/i.test(f)).sort(cmp);
};

/** Reads every object under the `policies.admission` paths (files or directories). */
export const loadAdmission = async (tree: SourceTree, paths: readonly string[]): Promise<AdmissionSet> => {
  const sourced: Sourced[] = [];
  for (const path of paths) {
    for (const file of await yamlFilesUnder(tree, path)) {
      for (const doc of parseAllDocuments((await tree.read(file)) ?? '')) {
        const value: unknown = doc.toJS();
        if (isMapping(value) && typeof value.kind === 'string' && isMapping(value.metadata)) {
          sourced.push({ object: value as KubeObject & JsonMap, file });
        }
      }
    }
  }
  return admissionSetOf(sourced);
};

/** Compiles policies and pairs them with their bindings (a binding to a missing policy does nothing). */
export const admissionSetOf = (sourced: readonly Sourced[]): AdmissionSet => {
  const isAdmission = (s: Sourced, kind: string) =>
    s.object.kind === kind && s.object.apiVersion.startsWith(ADMISSION_GROUP);
  const policies = new Map(
    sourced
      .filter((s) => isAdmission(s, 'ValidatingAdmissionPolicy'))
      .map((s) => [s.object.metadata.name, compilePolicy(s)]),
  );
  const bindings: Binding[] = [];
  for (const s of sourced.filter((x) => isAdmission(x, 'ValidatingAdmissionPolicyBinding'))) {
    const spec = isMapping(s.object.spec) ? s.object.spec : {};
    const policy = policies.get(String(spec.policyName ?? ''));
    if (!policy) continue;
    bindings.push({
      name: s.object.metadata.name,
      file: s.file,
      policy,
      spec,
      deny: strings(spec.validationActions).includes('Deny'),
    });
  }
  return {
    bindings: bindings.sort((a, b) => cmp(a.name, b.name)),
    objects: sourced.filter((s) => !s.object.apiVersion.startsWith(ADMISSION_GROUP)),
  };
};

// ---------------------------------------------------------------------------------------------
// matching

interface Resource {
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
}

const splitApiVersion = (apiVersion: string): [string, string] => {
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? ['', apiVersion] : [apiVersion.slice(0, slash), apiVersion.slice(slash + 1)];
};

/** kind → REST resource through the schemas (built-in) or the CRD; a plural guess otherwise. */
const resourceOf = (object: KubeObject, ctx: AdmissionContext): Resource => {
  const [group, version] = splitApiVersion(object.apiVersion);
  const key = `${object.apiVersion}/${object.kind}`;
  const known = ctx.schemas?.kinds[key] ?? ctx.crds.get(key);
  if (known) return { group, version, resource: known.resource, namespaced: known.namespaced };
  const lower = object.kind.toLowerCase();
  const plural = /(s|x|z|ch|sh)$/.test(lower)
    ? `${lower}es`
    : /[^aeiou]y$/.test(lower)
      ? `${lower.slice(0, -1)}ies`
      : `${lower}s`;
  return { group, version, resource: plural, namespaced: !isClusterScoped(object.kind) };
};

const listMatches = (list: readonly string[], value: string): boolean =>
  list.includes('*') || list.includes(value);

const ruleMatches = (rule: JsonMap, object: KubeObject, r: Resource): boolean => {
  const resources = strings(rule.resources);
  const scope = typeof rule.scope === 'string' ? rule.scope : '*';
  const names = strings(rule.resourceNames);
  return (
    listMatches(strings(rule.apiGroups), r.group) &&
    listMatches(strings(rule.apiVersions), r.version) &&
    (resources.includes('*') || resources.includes('*/*') || resources.includes(r.resource)) &&
    listMatches(strings(rule.operations), 'CREATE') &&
    (scope === '*' || (scope === 'Namespaced') === r.namespaced) &&
    (names.length === 0 || names.includes(object.metadata.name))
  );
};

/** A metav1.LabelSelector; empty or absent selects everything. */
export const selectorMatches = (selector: unknown, labels: Readonly<Record<string, string>>): boolean => {
  if (!isMapping(selector)) return true;
  const matchLabels = isMapping(selector.matchLabels) ? selector.matchLabels : {};
  for (const [k, v] of Object.entries(matchLabels)) if (labels[k] !== v) return false;
  for (const e of maps(selector.matchExpressions)) {
    const key = String(e.key);
    const has = Object.hasOwn(labels, key);
    const values = strings(e.values);
    const ok =
      e.operator === 'In'
        ? has && values.includes(labels[key]!)
        : e.operator === 'NotIn'
          ? !has || !values.includes(labels[key]!)
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
};

const labelsOf = (object: KubeObject | undefined): Record<string, string> => ({
  ...(object?.metadata.labels ?? {}),
});

const namespaceObject = (
  name: string,
  ctx: AdmissionContext,
  objects: readonly RenderedObject[],
): KubeObject => {
  const isNs = (o: KubeObject) => o.kind === 'Namespace' && o.apiVersion === 'v1' && o.metadata.name === name;
  const found =
    objects.find((r) => isNs(r.object))?.object ?? ctx.set.objects.find((s) => isNs(s.object))?.object;
  // The API server labels every namespace with its name.
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    ...(found ?? {}),
    metadata: {
      ...(found?.metadata ?? { name }),
      labels: { ...labelsOf(found), 'kubernetes.io/metadata.name': name },
    },
  };
};

/** matchConstraints / matchResources: rules, excluded rules, namespace and object selectors. */
const resourcesMatch = (
  match: unknown,
  object: KubeObject,
  r: Resource,
  namespace: KubeObject | undefined,
  binding = false,
): boolean => {
  if (!isMapping(match)) return true;
  const rules = maps(match.resourceRules);
  // A binding's matchResources without rules narrows only by selector; matchConstraints needs rules.
  if ((!binding || rules.length > 0) && !rules.some((rule) => ruleMatches(rule, object, r))) return false;
  if (maps(match.excludeResourceRules).some((rule) => ruleMatches(rule, object, r))) return false;
  if (!selectorMatches(match.objectSelector, labelsOf(object))) return false;
  // Cluster-scoped objects other than Namespaces are never skipped by a namespaceSelector.
  const nsLabels =
    object.kind === 'Namespace' ? labelsOf(object) : namespace ? labelsOf(namespace) : undefined;
  return nsLabels === undefined || selectorMatches(match.namespaceSelector, nsLabels);
};

// ---------------------------------------------------------------------------------------------
// evaluation

export interface AdmissionContext {
  readonly set: AdmissionSet;
  readonly schemas: KubeSchemas | undefined;
  readonly crds: ReadonlyMap<string, CrdKind>;
}

/** The params a binding hands a policy: one object, several (selector), or none. */
const paramsFor = (
  binding: Binding,
  object: KubeObject,
  r: Resource,
  ctx: AdmissionContext,
): KubeObject[] | undefined => {
  const kind = binding.policy.spec.paramKind;
  if (!isMapping(kind)) return undefined;
  const ref = isMapping(binding.spec.paramRef) ? binding.spec.paramRef : {};
  const namespace =
    typeof ref.namespace === 'string' ? ref.namespace : r.namespaced ? (object.metadata.namespace ?? '') : '';
  return ctx.set.objects
    .map((s) => s.object)
    .filter(
      (p) =>
        p.apiVersion === kind.apiVersion &&
        p.kind === kind.kind &&
        (p.metadata.namespace ?? '') === namespace &&
        (typeof ref.name === 'string'
          ? p.metadata.name === ref.name
          : selectorMatches(ref.selector, labelsOf(p))),
    );
};

type Outcome = { kind: 'allow' } | { kind: 'deny'; message: string; fix: string };

/** cel-go's wording starts lower case (`no such key: x`); cel-js capitalises it. */
const errorText = (error: unknown): string => {
  const first = (error as Error).message.split('\n')[0] ?? String(error);
  return `${first.charAt(0).toLowerCase()}${first.slice(1)}`;
};

const evaluate = (binding: Binding, object: KubeObject, context: JsonMap): Outcome => {
  const { policy } = binding;
  const prefix = `ValidatingAdmissionPolicy '${policy.name}' with binding '${binding.name}' denied request`;
  const where = `(policy in ${policy.file}, binding in ${binding.file})`;
  const failed = (what: string, error: unknown): Outcome =>
    policy.failOpen
      ? { kind: 'allow' }
      : {
          kind: 'deny',
          message: `${prefix}: ${what} resulted in error: ${errorText(error)}`,
          fix: `make the expression handle ${objectRef(object)} (guard optional fields with has() or ?.), or set failurePolicy: Ignore ${where}`,
        };
  // Variables are lazy and evaluated at most once, as composited by the API server.
  const variables: JsonMap = {};
  for (const v of policy.variables) {
    let cached: { value: unknown } | undefined;
    Object.defineProperty(variables, v.name, {
      enumerable: true,
      get: () => {
        cached ??= { value: v.run({ ...context, variables }) };
        return cached.value;
      },
    });
  }
  const vars = { ...context, variables };
  for (const condition of policy.matchConditions) {
    try {
      if (condition.run(vars) !== true) return { kind: 'allow' };
    } catch (error) {
      return failed(`matchCondition '${condition.name}'`, error);
    }
  }
  for (const validation of policy.validations) {
    let ok: unknown;
    try {
      ok = validation.expression.run(vars);
    } catch (error) {
      return failed(`expression '${validation.expression.source}'`, error);
    }
    if (ok === true) continue;
    let message = validation.message ?? `failed expression: ${validation.expression.source}`;
    if (validation.messageExpression) {
      try {
        const m = validation.messageExpression.run(vars);
        if (typeof m === 'string' && m.trim() !== '' && !m.includes('\n')) message = m;
      } catch {
        // the API server falls back to message when messageExpression fails
      }
    }
    return {
      kind: 'deny',
      message: `${prefix}: ${message}`,
      fix: `change ${objectRef(object)} so that \`${validation.expression.source}\` holds ${where}`,
    };
  }
  return { kind: 'allow' };
};

/**
 * Judges every object against every Deny binding; one violation per (binding, object), named
 * by the policy, with the API server's own wording.
 */
export const checkAdmission = (
  set: AdmissionSet,
  objects: readonly RenderedObject[],
  ctx: Omit<AdmissionContext, 'set'>,
): Violation[] => {
  const context: AdmissionContext = { ...ctx, set };
  const violations: Violation[] = [];
  const celObjects = new Map<RenderedObject, unknown>();
  for (const rendered of objects) {
    const { object } = rendered;
    const r = resourceOf(object, context);
    const namespace =
      r.namespaced && object.metadata.namespace
        ? namespaceObject(object.metadata.namespace, context, objects)
        : undefined;
    for (const binding of set.bindings) {
      if (!binding.deny) continue;
      if (!resourcesMatch(binding.policy.spec.matchConstraints, object, r, namespace)) continue;
      if (
        isMapping(binding.spec.matchResources) &&
        !resourcesMatch(binding.spec.matchResources, object, r, namespace, true)
      ) {
        continue;
      }
      let cel = celObjects.get(rendered);
      if (cel === undefined) {
        cel = toCel(object);
        celObjects.set(rendered, cel);
      }
      const request = {
        kind: { group: r.group, version: r.version, kind: object.kind },
        resource: { group: r.group, version: r.version, resource: r.resource },
        name: object.metadata.name,
        namespace: object.metadata.namespace ?? '',
        operation: 'CREATE',
        userInfo: { username: 'sluice', groups: ['system:authenticated'] },
        dryRun: false,
      };
      const base = {
        object: cel,
        oldObject: null,
        request,
        namespaceObject: namespace ? toCel(namespace) : null,
      };
      const params = paramsFor(binding, object, r, context);
      const runs = params === undefined ? [null] : params.length > 0 ? params.map(toCel) : undefined;
      const outcomes: Outcome[] = [];
      if (runs === undefined) {
        const ref = isMapping(binding.spec.paramRef) ? binding.spec.paramRef : {};
        if (ref.parameterNotFoundAction !== 'Allow') {
          outcomes.push({
            kind: 'deny',
            message: `ValidatingAdmissionPolicy '${binding.policy.name}' with binding '${binding.name}' denied request: failed to configure binding: no params found for policy binding with \`Deny\` parameterNotFoundAction`,
            fix: `add the params object the binding's paramRef names to ${binding.file}'s admission paths, or set paramRef.parameterNotFoundAction: Allow`,
          });
        }
      } else {
        for (const params of runs) outcomes.push(evaluate(binding, object, { ...base, params }));
      }
      const denied = outcomes.find((o) => o.kind === 'deny');
      if (denied?.kind === 'deny') {
        violations.push({
          policy: binding.policy.name,
          object: objectRef(object),
          file: rendered.file,
          message: denied.message,
          fix: rendered.overlayFile
            ? `${denied.fix} (or in the overlay ${rendered.overlayFile})`
            : denied.fix,
        });
      }
    }
  }
  return violations;
};
