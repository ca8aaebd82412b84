/**
 * Policy `schema`: every rendered object checked against the Kubernetes OpenAPI schemas of the
 * target's version, offline, as kubeconform does, and as strictly as the API server's
 * `fieldValidation=Strict`: unknown apiVersion/kind, unknown fields, wrong types, missing
 * required fields, values outside an enum. Custom resources are checked against the
 * openAPIV3Schema of a CustomResourceDefinition found in the same bundle or anywhere in the
 * config repository. Pure: schemas come in as data (KubeSchemaSource port), CRDs as objects.
 */
import { parseAllDocuments } from 'yaml';
import type { KubeObject, KubeSchemas, SourceTree } from '../ports/index.ts';
import type { Violation } from '../schemas/events.ts';
import { objectRef, type RenderedObject } from './render.ts';
import { isSopsDocument, sopsSkeleton } from './sops.ts';

export const SCHEMA_POLICY = 'schema';

type JsonMap = Record<string, unknown>;
type Schema = JsonMap;

const isMapping = (value: unknown): value is JsonMap =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A kind a CustomResourceDefinition serves, with the schema of that version. */
export interface CrdKind {
  readonly crd: string;
  readonly schema: Schema | undefined;
  readonly resource: string;
  readonly namespaced: boolean;
  readonly served: boolean;
}

/** `group/version/Kind` → what the CRD says about it. */
export type CrdIndex = ReadonlyMap<string, CrdKind>;

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

/** Indexes the CRDs among `objects` by the `apiVersion/Kind` of every version they define. */
export const indexCrds = (objects: Iterable<KubeObject>, into = new Map<string, CrdKind>()): CrdIndex => {
  for (const o of objects) {
    if (o.kind !== 'CustomResourceDefinition' || !o.apiVersion.startsWith('apiextensions.k8s.io/')) continue;
    const spec = (o as unknown as JsonMap).spec;
    if (!isMapping(spec) || !isMapping(spec.names) || typeof spec.group !== 'string') continue;
    const kind = spec.names.kind;
    const plural = spec.names.plural;
    if (typeof kind !== 'string' || typeof plural !== 'string') continue;
    for (const version of Array.isArray(spec.versions) ? spec.versions.filter(isMapping) : []) {
      if (typeof version.name !== 'string') continue;
      const schema = isMapping(version.schema) ? version.schema.openAPIV3Schema : undefined;
      into.set(`${spec.group}/${version.name}/${kind}`, {
        crd: o.metadata.name,
        schema: isMapping(schema) ? schema : undefined,
        resource: plural,
        namespaced: spec.scope !== 'Cluster',
        served: version.served !== false,
      });
    }
  }
  return into;
};

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Every CustomResourceDefinition in the YAML files of the tree (CRDs kept anywhere in the
 * config repo count, e.g. a chart's crds/ or a `crds/` folder). Files that are not plain YAML
 * (helm templates) are skipped: a CRD rendered by a template is found in the bundle instead.
 */
export const crdsInTree = async (tree: SourceTree, dir = '.'): Promise<KubeObject[]> => {
  const found: KubeObject[] = [];
  for (const file of (await tree.list(dir)).filter((f) => /\.ya?ml$/i.test(f)).sort(cmp)) {
    const text = await tree.read(file);
    if (!text || !/kind:\s*["']?CustomResourceDefinition/.test(text)) continue;
    try {
      for (const doc of parseAllDocuments(text)) {
        if (doc.errors.length > 0) continue;
        const value: unknown = doc.toJS();
        // A catalog written by `kubectl get crds -o yaml` is one List (or CustomResourceDefinitionList).
        const items = isMapping(value) && Array.isArray(value.items) ? value.items : [value];
        for (const item of items) {
          if (isMapping(item) && item.kind === 'CustomResourceDefinition' && isMapping(item.metadata)) {
            found.push(item as unknown as KubeObject);
          }
        }
      }
    } catch {
      // not a manifest (a template, a stream parseAllDocuments cannot represent): skip it
    }
  }
  return found;
};

interface Problem {
  path: string;
  message: string;
  fix: string;
  /** Reported as a warning, not a failure. */
  warning?: boolean;
}

const describe = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isMapping(value)) return 'a mapping';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `the ${typeof value} ${String(value)}`;
};

/** Edit distance, to suggest `imagePullPolicy` for `imagePullPolice`. */
const distance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
};

const suggestField = (field: string, known: readonly string[]): string => {
  const close = known
    .map((k) => [k, distance(field.toLowerCase(), k.toLowerCase())] as const)
    .filter(([, d]) => d <= Math.max(2, Math.floor(field.length / 3)))
    .sort((a, b) => a[1] - b[1]);
  if (close[0]) return `did you mean "${close[0][0]}"? Rename it`;
  const list = known.slice(0, 12).join(', ');
  return `remove it (fields allowed here: ${list}${known.length > 12 ? ', …' : ''})`;
};

const childPath = (path: string, key: string): string => (path ? `${path}.${key}` : key);

const itemPath = (path: string, item: unknown, i: number): string =>
  isMapping(item) && typeof item.name === 'string' ? `${path}[name=${item.name}]` : `${path}[${i}]`;

const TYPE_FIX: Readonly<Record<string, string>> = {
  integer: 'a whole number without quotes',
  number: 'a number without quotes',
  boolean: 'true or false without quotes',
  string: 'a string (quote it, e.g. "8080" or "true")',
  object: 'a mapping of fields',
  array: 'a list',
};

const hasType = (value: unknown, type: string): boolean => {
  switch (type) {
    case 'object':
      return isMapping(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
};

class Checker {
  readonly problems: Problem[] = [];
  private readonly definitions: Readonly<Record<string, unknown>>;

  constructor(definitions: Readonly<Record<string, unknown>>) {
    this.definitions = definitions;
  }

  private resolve(schema: Schema): Schema {
    let s = schema;
    for (let hops = 0; typeof s.$ref === 'string' && hops < 20; hops += 1) {
      const target = this.definitions[s.$ref];
      s = isMapping(target) ? target : {};
    }
    return s;
  }

  check(value: unknown, schema: Schema, path: string): void {
    // The API server treats an explicit null like an absent field.
    if (value === null || value === undefined) return;
    const s = this.resolve(schema);
    if (s['x-kubernetes-int-or-string'] === true || s.format === 'int-or-string') {
      if (!(typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)))) {
        this.problems.push({
          path,
          message: `must be an integer or a string, not ${describe(value)}`,
          fix: `set ${path} to a number such as 8080 or a name such as "http"`,
        });
      }
      return;
    }
    if (this.typeUnion(value, s, path)) return;
    const type = typeof s.type === 'string' ? s.type : undefined;
    if (type && !hasType(value, type)) {
      this.problems.push({
        path,
        message: `must be ${type === 'array' ? 'a list' : type === 'object' ? 'a mapping' : `of type ${type}`}, not ${describe(value)}`,
        fix: `set ${path} to ${TYPE_FIX[type] ?? type}`,
      });
      return;
    }
    this.values(value, s, path);
    if (Array.isArray(value) && isMapping(s.items)) {
      value.forEach((item, i) => {
        this.check(item, s.items as Schema, itemPath(path, item, i));
      });
    }
    if (isMapping(value) && (type === 'object' || isMapping(s.properties) || s.additionalProperties)) {
      this.object(value, s, path);
    }
  }

  /** Built-in unions such as Quantity (`oneOf: [string, number]`): only the type is checked. */
  private typeUnion(value: unknown, s: Schema, path: string): boolean {
    if (s.type !== undefined) return false;
    const branches = Array.isArray(s.oneOf) ? s.oneOf : Array.isArray(s.anyOf) ? s.anyOf : undefined;
    if (
      !branches?.every((b) => isMapping(b) && Object.keys(b).every((k) => k === 'type' || k === 'format'))
    ) {
      return false;
    }
    const types = branches.map((b) => String((b as Schema).type));
    if (!types.some((t) => hasType(value, t))) {
      this.problems.push({
        path,
        message: `must be ${types.join(' or ')}, not ${describe(value)}`,
        fix: `set ${path} to ${types.map((t) => TYPE_FIX[t] ?? t).join(', or ')}`,
      });
    }
    return true;
  }

  /** Value validations of CRD schemas (and enums of built-ins). */
  private values(value: unknown, s: Schema, path: string): void {
    const fail = (message: string, fix: string) => this.problems.push({ path, message, fix });
    if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
      const allowed = s.enum.map((e) => JSON.stringify(e)).join(', ');
      fail(`${describe(value)} is not one of ${allowed}`, `set ${path} to one of ${allowed}`);
    }
    if (typeof value === 'string') {
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value)) {
        fail(
          `${describe(value)} does not match the pattern ${s.pattern}`,
          `change ${path} to match ${s.pattern}`,
        );
      }
      if (typeof s.maxLength === 'number' && [...value].length > s.maxLength) {
        fail(`is longer than ${s.maxLength} characters`, `shorten ${path}`);
      }
      if (typeof s.minLength === 'number' && [...value].length < s.minLength) {
        fail(`is shorter than ${s.minLength} characters`, `lengthen ${path}`);
      }
    }
    if (typeof value === 'number') {
      if (typeof s.maximum === 'number' && (s.exclusiveMaximum ? value >= s.maximum : value > s.maximum)) {
        fail(`${value} is above the maximum ${s.maximum}`, `lower ${path}`);
      }
      if (typeof s.minimum === 'number' && (s.exclusiveMinimum ? value <= s.minimum : value < s.minimum)) {
        fail(`${value} is below the minimum ${s.minimum}`, `raise ${path}`);
      }
    }
    if (Array.isArray(value)) {
      if (typeof s.maxItems === 'number' && value.length > s.maxItems) {
        fail(`has ${value.length} items, more than ${s.maxItems}`, `remove items from ${path}`);
      }
      if (typeof s.minItems === 'number' && value.length < s.minItems) {
        fail(`has ${value.length} items, fewer than ${s.minItems}`, `add items to ${path}`);
      }
    }
    if (isMapping(value)) {
      const n = Object.keys(value).length;
      if (typeof s.maxProperties === 'number' && n > s.maxProperties) {
        fail(`has ${n} fields, more than ${s.maxProperties}`, `remove fields from ${path}`);
      }
      if (typeof s.minProperties === 'number' && n < s.minProperties) {
        fail(`has ${n} fields, fewer than ${s.minProperties}`, `add fields to ${path}`);
      }
    }
    const passes = (branch: unknown): boolean => {
      if (!isMapping(branch)) return true;
      const sub = new Checker(this.definitions);
      sub.check(value, { ...branch, 'x-kubernetes-preserve-unknown-fields': true }, path);
      return sub.problems.length === 0;
    };
    if (Array.isArray(s.allOf))
      for (const branch of s.allOf) if (isMapping(branch)) this.check(value, branch, path);
    if (Array.isArray(s.anyOf) && !s.anyOf.some(passes)) {
      fail(
        'matches none of the schemas allowed here (anyOf)',
        `change ${path} to one of the documented forms`,
      );
    }
    if (Array.isArray(s.oneOf) && s.oneOf.filter(passes).length !== 1) {
      fail(
        'must match exactly one of the schemas allowed here (oneOf)',
        `change ${path} to exactly one of the documented forms`,
      );
    }
    if (isMapping(s.not) && passes(s.not)) {
      fail('matches a schema that is not allowed here (not)', `change ${path}`);
    }
  }

  private object(value: JsonMap, s: Schema, path: string): void {
    const properties = isMapping(s.properties) ? (s.properties as Record<string, Schema>) : {};
    const additional = s.additionalProperties;
    const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
    const embedded = s['x-kubernetes-embedded-resource'] === true;
    for (const [key, child] of Object.entries(value)) {
      const at = childPath(path, key);
      const known = properties[key];
      if (known) this.check(child, known, at);
      else if (isMapping(additional)) this.check(child, additional, at);
      else if (embedded && (key === 'apiVersion' || key === 'kind'))
        this.check(child, { type: 'string' }, at);
      else if (embedded && key === 'metadata') this.check(child, { $ref: OBJECT_META }, at);
      else if (additional === true || preserve) continue;
      else {
        this.problems.push({
          path: at,
          message: 'is not a known field (the API server rejects it with strict field validation)',
          fix: suggestField(key, Object.keys(properties).sort(cmp)),
        });
      }
    }
    for (const field of Array.isArray(s.required) ? s.required : []) {
      if (typeof field !== 'string' || (value[field] !== undefined && value[field] !== null)) continue;
      const at = childPath(path, field);
      this.problems.push({ path: at, message: 'is required but missing', fix: `add ${at}` });
    }
  }
}

/** What schema validation needs: the version's schemas and the CRDs the repo defines. */
export interface SchemaContext {
  readonly schemas: KubeSchemas;
  readonly crds: CrdIndex;
  /** A custom kind no CRD defines fails (fleet `policies.crds.strict`); else a warning. */
  readonly strictCrds?: boolean | undefined;
}

/**
 * A group only a CustomResourceDefinition can serve: dotted, and not one of Kubernetes' own
 * (`*.k8s.io`, `*.kubernetes.io`, which CRDs may not take without approval).
 */
const isCustomGroup = (apiVersion: string): boolean => {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  return group.includes('.') && !/(^|\.)(k8s|kubernetes)\.io$/.test(group);
};

/** At most this many problems per object; the rest are summed up in one line. */
const MAX_PER_OBJECT = 10;

const knownVersionsOf = (kind: string, ctx: SchemaContext): string[] =>
  [...Object.keys(ctx.schemas.kinds), ...ctx.crds.keys()]
    .filter((key) => key.slice(key.lastIndexOf('/') + 1) === kind)
    .map((key) => key.slice(0, key.lastIndexOf('/')))
    .sort(cmp);

const problemsOf = (object: KubeObject, ctx: SchemaContext): Problem[] => {
  const key = `${object.apiVersion}/${object.kind}`;
  const builtin = ctx.schemas.kinds[key];
  const checker = new Checker(ctx.schemas.definitions);
  if (builtin) {
    checker.check(object, { $ref: builtin.schema }, '');
    return checker.problems;
  }
  const crd = ctx.crds.get(key);
  if (!crd) {
    const others = knownVersionsOf(object.kind, ctx);
    if (others.length === 0 && isCustomGroup(object.apiVersion) && !ctx.strictCrds) {
      return [
        {
          path: '',
          message: `${object.kind} in apiVersion ${object.apiVersion} is not checked: no CustomResourceDefinition in the repo defines it`,
          fix: `add its CustomResourceDefinition to the repo (a crds/ folder, or a catalog file written by kubectl get crds -o yaml) to have it validated; policies.crds.strict: true makes this a failure`,
          warning: true,
        },
      ];
    }
    return [
      {
        path: '',
        message: `${object.kind} in apiVersion ${object.apiVersion} is not a kind Kubernetes ${ctx.schemas.version} serves, and no CustomResourceDefinition in the repo defines it`,
        fix:
          others.length > 0
            ? `use apiVersion ${others.join(' or ')} for ${object.kind}`
            : `correct apiVersion/kind, or add the CustomResourceDefinition that defines ${object.kind} to the repo (e.g. under crds/)`,
      },
    ];
  }
  if (!crd.served) {
    return [
      {
        path: '',
        message: `version ${object.apiVersion} of ${object.kind} is not served by CustomResourceDefinition ${crd.crd}`,
        fix: `use a served version of ${object.kind}, or set served: true on it in the CRD`,
      },
    ];
  }
  const { metadata, ...rest } = object as unknown as JsonMap;
  checker.check(metadata, { $ref: OBJECT_META }, 'metadata');
  if (crd.schema) {
    const root = crd.schema;
    const properties = isMapping(root.properties) ? root.properties : {};
    // apiVersion, kind and metadata are implicit at the root of every custom resource.
    checker.check(
      rest,
      { ...root, properties: { ...properties, apiVersion: { type: 'string' }, kind: { type: 'string' } } },
      '',
    );
  }
  return checker.problems;
};

/** Runs policy `schema` over the objects; violations sorted like the built-in pack's. */
export const checkSchemas = (objects: readonly RenderedObject[], ctx: SchemaContext): Violation[] => {
  const violations: Violation[] = [];
  for (const rendered of objects) {
    // A SOPS document is checked without its metadata and its encrypted values (core/sops.ts).
    const sops = isSopsDocument(rendered.object) ? sopsSkeleton(rendered.object) : undefined;
    const problems = [...problemsOf(sops ? sops.object : rendered.object, ctx)];
    if (sops && sops.encrypted > 0) {
      problems.push({
        path: '',
        message: `${sops.encrypted} SOPS-encrypted value(s): encrypted, not checked`,
        fix: 'nothing to do: the agent decrypts them at apply time; run kubectl apply --dry-run=server on the decrypted file to check them',
        warning: true,
      });
    }
    const patched = rendered.overlayFile ? ` (or in the overlay ${rendered.overlayFile})` : '';
    const base = { policy: SCHEMA_POLICY, object: objectRef(rendered.object), file: rendered.file };
    for (const p of problems.slice(0, MAX_PER_OBJECT)) {
      violations.push({
        ...base,
        message: p.path ? `${p.path} ${p.message}` : p.message,
        fix: `${p.fix}${patched}`,
        ...(p.warning ? { severity: 'warning' as const } : {}),
      });
    }
    if (problems.length > MAX_PER_OBJECT) {
      violations.push({
        ...base,
        message: `${problems.length - MAX_PER_OBJECT} more schema problem(s) in this object`,
        fix: `run kubectl apply --dry-run=server --validate=strict on ${rendered.file} after fixing the ones above`,
      });
    }
  }
  return violations;
};
