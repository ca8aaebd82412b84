/**
 * Rendering: a config repository's app directory (plus an environment overlay and values) →
 * the exact, sorted list of Kubernetes objects a cluster should hold. Pure: it reads files only
 * through the SourceTree port, so the same code runs in Lambda, in `sluice render` and in tests.
 */
import { type Document, LineCounter, parseAllDocuments, Scalar, visit } from 'yaml';
import { ConfigError, isSluiceError, SluiceError } from '../errors.ts';
import type { KubeObject, SourceTree } from '../ports/index.ts';
import type { AppConfig, FleetConfig, TargetConfig } from '../schemas/config.ts';
import type { RenderSpec } from '../schemas/events.ts';
import { environmentFor } from './config.ts';

/** One rendered object and the repo-relative file it came from. */
export interface RenderedObject {
  object: KubeObject;
  /** The source file that defines the object (the base file when an overlay patched it). */
  file: string;
  /** The overlay file whose patch was merged over the object, if any. Not part of bundles. */
  overlayFile?: string;
}

/** Every render problem: not retryable, the same input fails the same way. */
export class RenderError extends SluiceError {
  constructor(file: string, problem: string, fix: string, data: Record<string, unknown> = {}) {
    super('RENDER_FAILED', `${file}: ${problem}. Fix: ${fix}`, {
      data: { file, problem, fix, ...data },
      retryable: false,
    });
  }
}

/**
 * Kinds that live outside any namespace; they never get `spec.namespace`. Custom kinds not
 * listed here are treated as namespaced, as most CRDs are.
 */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  'APIService',
  'CSIDriver',
  'CSINode',
  'CertificateSigningRequest',
  'ClusterIssuer',
  'ClusterRole',
  'ClusterRoleBinding',
  'ClusterSecretStore',
  'ComponentStatus',
  'CustomResourceDefinition',
  'FlowSchema',
  'IngressClass',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
  'MutatingWebhookConfiguration',
  'Namespace',
  'Node',
  'PersistentVolume',
  'PodSecurityPolicy',
  'PriorityClass',
  'PriorityLevelConfiguration',
  'RuntimeClass',
  'StorageClass',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'ValidatingWebhookConfiguration',
  'VolumeAttachment',
]);

export const isClusterScoped = (kind: string): boolean => CLUSTER_SCOPED_KINDS.has(kind);

/** `Kind/namespace/name`, or `Kind/name` for objects without a namespace. */
export const objectRef = (object: KubeObject): string =>
  object.metadata.namespace
    ? `${object.kind}/${object.metadata.namespace}/${object.metadata.name}`
    : `${object.kind}/${object.metadata.name}`;

const groupOf = (apiVersion: string): string => {
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? '' : apiVersion.slice(0, slash);
};

/** What makes two objects "the same object" to the API server: group, kind, namespace, name. */
export const identityOf = (object: KubeObject): string =>
  [groupOf(object.apiVersion), object.kind, object.metadata.namespace ?? '', object.metadata.name].join('|');

const kindRank = (kind: string): number =>
  kind === 'Namespace' ? 0 : kind === 'CustomResourceDefinition' ? 1 : 2;

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Namespaces, then CRDs, then by kind, namespace, name (then group): the order objects are applied in. */
export const compareObjects = (a: KubeObject, b: KubeObject): number =>
  kindRank(a.kind) - kindRank(b.kind) ||
  cmp(a.kind, b.kind) ||
  cmp(a.metadata.namespace ?? '', b.metadata.namespace ?? '') ||
  cmp(a.metadata.name, b.metadata.name) ||
  cmp(groupOf(a.apiVersion), groupOf(b.apiVersion)) ||
  cmp(a.apiVersion, b.apiVersion);

export const sortRendered = (objects: readonly RenderedObject[]): RenderedObject[] =>
  [...objects].sort((a, b) => compareObjects(a.object, b.object) || cmp(a.file, b.file));

// ---------------------------------------------------------------------------------------------
// paths

/** Joins repo-relative paths; `.` and empty segments vanish, the repo root is `.`. */
export const joinPath = (...parts: readonly string[]): string =>
  parts
    .flatMap((p) => p.split('/'))
    .filter((s) => s !== '' && s !== '.')
    .join('/') || '.';

const isUnder = (file: string, dir: string): boolean => dir === '.' || file.startsWith(`${dir}/`);

const basename = (file: string): string => file.slice(file.lastIndexOf('/') + 1);

const isManifest = (file: string): boolean => {
  const name = basename(file);
  return /\.ya?ml$/i.test(name) && !/^kustomization\.ya?ml$/i.test(name);
};

const listManifests = async (tree: SourceTree, dir: string): Promise<string[]> => {
  let files: string[];
  try {
    files = await tree.list(dir);
  } catch (error) {
    if (isSluiceError(error) && error.code === 'NOT_FOUND') return [];
    throw error;
  }
  return files.filter((f) => isUnder(f, dir) && isManifest(f)).sort(cmp);
};

// ---------------------------------------------------------------------------------------------
// parsing

type Values = RenderSpec['values'];
type Json = unknown;
type JsonMap = Record<string, Json>;

const isMapping = (value: unknown): value is JsonMap =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const PLACEHOLDER = /\$\{values\.([^}\s]*)\}/g;
const WHOLE_PLACEHOLDER = /^\$\{values\.([^}\s]*)\}$/;

/**
 * Replaces `${values.KEY}` in the string scalars (never the keys) of a parsed document, in place.
 * An unquoted scalar that is exactly one placeholder takes the value's own type, so
 * `replicas: ${values.replicas}` stays a number; a quoted one (`value: "${values.port}"`) or a
 * placeholder inside longer text always yields a string.
 */
const substitute = (doc: Document.Parsed, values: Values, file: string, counter: LineCounter): void => {
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${values.')) return;
      const text = node.value;
      const lookup = (name: string) => {
        if (Object.hasOwn(values, name)) return values[name]!;
        const known = Object.keys(values).sort(cmp);
        const line = node.range ? counter.linePos(node.range[0]).line : undefined;
        throw new RenderError(
          where(file, line),
          `unknown value "\${values.${name}}"`,
          known.length > 0
            ? `add "${name}" to the environment's values in sluice.yaml, or use one of ${known.join(', ')}`
            : `add "${name}" under apps[].environments.<env>.values in sluice.yaml`,
          { key: name },
        );
      };
      const whole = WHOLE_PLACEHOLDER.exec(text);
      if (whole && node.type === Scalar.PLAIN) node.value = lookup(whole[1]!);
      else node.value = text.replace(PLACEHOLDER, (_, name: string) => String(lookup(name)));
    },
  });
};

interface Parsed {
  object: KubeObject;
  file: string;
  line: number | undefined;
}

const where = (file: string, line: number | undefined) => (line === undefined ? file : `${file}:${line}`);

const parseFile = (text: string, file: string, values: Values): Parsed[] => {
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: counter, merge: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return []; // an empty stream
  const out: Parsed[] = [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) {
      throw new RenderError(
        where(file, counter.linePos(error.pos[0]).line),
        `is not valid YAML (${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')})`,
        'correct the YAML syntax at that line',
      );
    }
    const start = doc.contents?.range?.[0];
    const line = start === undefined ? undefined : counter.linePos(start).line;
    substitute(doc, values, file, counter);
    const raw: unknown = doc.toJS({ maxAliasCount: 1000 });
    if (raw === null || raw === undefined) continue; // empty document, e.g. a trailing `---`
    if (!isMapping(raw)) {
      throw new RenderError(
        where(file, line),
        `document is a ${Array.isArray(raw) ? 'list' : typeof raw}, not a mapping`,
        'each YAML document must be one Kubernetes object (apiVersion, kind, metadata); split lists into documents separated by ---',
      );
    }
    checkObject(raw, file, line);
    out.push({ object: raw as unknown as KubeObject, file, line });
  }
  return out;
};

const checkObject = (object: JsonMap, file: string, line: number | undefined): void => {
  const at = where(file, line);
  for (const field of ['apiVersion', 'kind'] as const) {
    if (typeof object[field] !== 'string' || object[field] === '') {
      throw new RenderError(
        at,
        `object has no ${field}`,
        `add a "${field}" string to the document (e.g. ${field === 'kind' ? 'kind: Deployment' : 'apiVersion: apps/v1'})`,
      );
    }
  }
  const metadata = object.metadata;
  if (!isMapping(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    throw new RenderError(
      at,
      `${String(object.kind)} has no metadata.name`,
      'add metadata.name (generateName is not supported: GitOps needs stable names)',
    );
  }
  if (metadata.namespace !== undefined && (typeof metadata.namespace !== 'string' || !metadata.namespace)) {
    throw new RenderError(
      at,
      `${String(object.kind)}/${metadata.name} has an invalid metadata.namespace`,
      'make metadata.namespace a non-empty string or remove it',
    );
  }
};

// ---------------------------------------------------------------------------------------------
// merging

const stripNulls = (value: Json): Json => {
  if (Array.isArray(value)) return value.map(stripNulls);
  if (isMapping(value)) {
    const out: JsonMap = {};
    for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = stripNulls(v);
    return out;
  }
  return value;
};

const isNamedList = (list: readonly Json[]): list is JsonMap[] =>
  list.length > 0 && list.every((item) => isMapping(item) && typeof item.name === 'string');

const mergeNamedLists = (base: JsonMap[], patch: JsonMap[]): JsonMap[] => {
  const out = [...base];
  for (const item of patch) {
    const i = out.findIndex((b) => b.name === item.name);
    if (item.$patch === 'delete') {
      if (i !== -1) out.splice(i, 1);
    } else if (i === -1) {
      out.push(stripNulls(item) as JsonMap);
    } else {
      out[i] = mergeMaps(out[i]!, item);
    }
  }
  return out;
};

const mergeMaps = (base: JsonMap, patch: JsonMap): JsonMap => {
  const out: JsonMap = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (Object.hasOwn(out, key)) out[key] = mergeValue(out[key], value);
    else out[key] = stripNulls(value);
  }
  return out;
};

/**
 * Overlay semantics: maps merge recursively, `null` deletes a key, lists whose items are all maps
 * with a `name` (containers, env, ports, volumes) merge by name (`$patch: delete` removes an
 * item), every other list is replaced.
 */
export const mergeOverlay = (base: Json, patch: Json): Json => mergeValue(base, patch);

const mergeValue = (base: Json, patch: Json): Json => {
  if (isMapping(base) && isMapping(patch)) return mergeMaps(base, patch);
  if (Array.isArray(base) && Array.isArray(patch) && isNamedList(base) && isNamedList(patch)) {
    return mergeNamedLists(base, patch);
  }
  return stripNulls(patch);
};

// ---------------------------------------------------------------------------------------------
// normalising

const KEY_PRIORITY = ['apiVersion', 'kind', 'metadata', 'name', 'namespace'];

const compareKeys = (a: string, b: string): number => {
  const pa = KEY_PRIORITY.indexOf(a);
  const pb = KEY_PRIORITY.indexOf(b);
  if (pa !== -1 || pb !== -1) return (pa === -1 ? 99 : pa) - (pb === -1 ? 99 : pb);
  return cmp(a, b);
};

/** Same content → same key order: apiVersion, kind, metadata, name, namespace first, the rest sorted. */
export const normaliseKeys = (value: Json): Json => {
  if (Array.isArray(value)) return value.map(normaliseKeys);
  if (isMapping(value)) {
    const out: JsonMap = {};
    for (const key of Object.keys(value).sort(compareKeys)) out[key] = normaliseKeys(value[key]);
    return out;
  }
  return value;
};

// ---------------------------------------------------------------------------------------------
// the use case

const applyNamespace = (object: KubeObject, namespace: string | undefined): KubeObject => {
  if (!namespace || object.metadata.namespace || isClusterScoped(object.kind)) return object;
  return { ...object, metadata: { ...object.metadata, namespace } };
};

const readAll = async (
  tree: SourceTree,
  files: readonly string[],
  spec: RenderSpec,
): Promise<Map<string, Parsed>> => {
  const byIdentity = new Map<string, Parsed>();
  for (const file of files) {
    const text = await tree.read(file);
    if (text === undefined) continue; // listed but gone: the tree changed under us; nothing to render
    for (const parsed of parseFile(text, file, spec.values)) {
      parsed.object = applyNamespace(parsed.object, spec.namespace);
      const id = identityOf(parsed.object);
      const previous = byIdentity.get(id);
      if (previous) {
        throw new RenderError(
          where(parsed.file, parsed.line),
          `${objectRef(parsed.object)} is defined twice, also in ${where(previous.file, previous.line)}`,
          'keep one definition and delete the other (use an overlay to change an object per environment)',
          { files: [previous.file, parsed.file], object: objectRef(parsed.object) },
        );
      }
      byIdentity.set(id, parsed);
    }
  }
  return byIdentity;
};

/**
 * Renders one app for one environment. With no `base`, every YAML file under the app path is a
 * manifest, except those under the overlay's top directory (e.g. all of `overlays/` when the
 * overlay is `overlays/prod`), so sibling environments never leak into each other.
 */
export const renderApp = async (tree: SourceTree, spec: RenderSpec): Promise<RenderedObject[]> => {
  const baseDir = joinPath(spec.path, spec.base ?? '.');
  const overlayDir = spec.overlay === undefined ? undefined : joinPath(spec.path, spec.overlay);
  const excluded =
    overlayDir === undefined || spec.base !== undefined
      ? undefined
      : joinPath(spec.path, joinPath(spec.overlay!).split('/')[0]!);

  const baseFiles = (await listManifests(tree, baseDir)).filter(
    (f) => excluded === undefined || !isUnder(f, excluded),
  );
  if (baseFiles.length === 0) {
    throw new RenderError(
      baseDir,
      `app "${spec.app}" has no YAML manifests in its directory`,
      `add *.yaml files under ${baseDir}, or correct apps[].path${spec.base ? '/base' : ''} in sluice.yaml`,
    );
  }
  const base = await readAll(tree, baseFiles, spec);
  if (base.size === 0) {
    throw new RenderError(
      baseDir,
      `app "${spec.app}" has no Kubernetes objects (every document is empty)`,
      `add at least one object under ${baseDir}`,
    );
  }

  const result = new Map<string, RenderedObject>();
  for (const [id, parsed] of base) result.set(id, { object: parsed.object, file: parsed.file });

  if (overlayDir !== undefined) {
    const overlayFiles = await listManifests(tree, overlayDir);
    if (overlayFiles.length === 0) {
      throw new RenderError(
        overlayDir,
        `overlay for environment "${spec.environment ?? '(none)'}" of app "${spec.app}" is missing or has no YAML files`,
        `create ${overlayDir}/ with the objects to patch, or correct environments.${spec.environment ?? '<env>'}.overlay in sluice.yaml (it is relative to the app path ${spec.path})`,
      );
    }
    for (const [id, patch] of await readAll(tree, overlayFiles, spec)) {
      const target = result.get(id);
      if (target) {
        const merged = mergeOverlay(target.object, patch.object) as KubeObject;
        result.set(id, { object: merged, file: target.file, overlayFile: patch.file });
      } else {
        result.set(id, { object: stripNulls(patch.object) as KubeObject, file: patch.file });
      }
    }
  }

  return sortRendered(
    [...result.values()].map((r) => {
      checkObject(r.object as unknown as JsonMap, r.overlayFile ?? r.file, undefined);
      return { ...r, object: normaliseKeys(r.object) as KubeObject };
    }),
  );
};

const sortedRecord = <T>(record: Readonly<Record<string, T>>): Record<string, T> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => cmp(a, b)));

/**
 * The RenderSpec of an app in one environment (undefined for apps without environments).
 * Built only from the app and environment, never from a target, so every target sharing an
 * environment gets a byte-identical spec and the planner can deduplicate by JSON.
 */
export const renderSpecForEnvironment = (
  config: FleetConfig,
  app: AppConfig,
  environment: string | undefined,
): RenderSpec => {
  const env = environment === undefined ? undefined : app.environments[environment];
  if (environment !== undefined && env === undefined) {
    throw new ConfigError(
      'sluice.yaml',
      `apps[${config.apps.indexOf(app)}].environments`,
      `app "${app.name}" has no environment "${environment}"`,
      `add environments.${environment} to the app, or narrow its target selector`,
    );
  }
  const disabled = [...new Set([...config.policies.disable, ...app.policies.disable])].sort(cmp);
  return {
    app: app.name,
    path: app.path,
    ...(app.base === undefined ? {} : { base: app.base }),
    ...(environment === undefined ? {} : { environment }),
    ...(env?.overlay === undefined ? {} : { overlay: env.overlay }),
    values: sortedRecord(env?.values ?? {}),
    ...(app.namespace === undefined ? {} : { namespace: app.namespace }),
    disabledPolicies: disabled,
    sync: { prune: app.sync.prune, selfHeal: app.sync.selfHeal },
  };
};

/** The RenderSpec of an app on a target: its environment comes from the target's labels. */
export const renderSpecFor = (config: FleetConfig, app: AppConfig, target: TargetConfig): RenderSpec =>
  renderSpecForEnvironment(config, app, environmentFor(app, target));
