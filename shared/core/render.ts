/**
 * Rendering: a config repository's app directory (plus an environment overlay and values) →
 * the exact, sorted list of Kubernetes objects a cluster should hold. Pure: it reads files only
 * through the SourceTree port, so the same code runs in Lambda, in `sluice render` and in tests.
 */
import { posix } from 'node:path';
import { type Document, LineCounter, parse, parseAllDocuments, Scalar, visit } from 'yaml';
import { ConfigError, isSluiceError, SluiceError } from '../errors.ts';
import type { KubeObject, ManifestRenderer, SourceTree, ToolResult } from '../ports/index.ts';
import {
  type AppConfig,
  type AppKind,
  type FleetConfig,
  type TargetConfig,
  unsafeRepoPath,
} from '../schemas/config.ts';
import type { RenderSpec } from '../schemas/events.ts';
import { environmentFor } from './config.ts';
import { KubeYamlScalarError, resolveKubeDocument, resolveKubeScalar } from './kube-yaml.ts';
import { gitopsToolOf } from './migrate/gitops-kinds.ts';
import { applyStage, generatedName, hookOf } from './render/hooks.ts';
import { fluxSubstitute } from './render/substitute.ts';
import { DEFAULT_RENDER_LIMITS, type RenderLimits } from './render-limits.ts';
import { isSopsDocument, SOPS_SOURCE_FIELD, sopsDocumentProblem } from './sops.ts';

export { DEFAULT_RENDER_LIMITS, type RenderLimits };

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

const LIMIT_FIX = (setting: string) =>
  `split the app or the file into smaller ones; the operator may raise ${setting} on the render host (docs/security.md#limits), sluice.yaml cannot`;

const checkFileSize = (text: string, file: string, limits: RenderLimits): void => {
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.maxFileBytes) {
    throw new RenderError(
      file,
      `is ${bytes} bytes, over the limit of ${limits.maxFileBytes} bytes per manifest file`,
      LIMIT_FIX('SLUICE_RENDER_MAX_FILE_BYTES'),
      { limit: 'maxFileBytes', bytes },
    );
  }
};

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

/**
 * The order objects are applied in: Namespaces, then CRDs, then pre hooks (by weight, then name),
 * the app's objects (by Argo CD sync-wave, kind, namespace, name, group) and post hooks
 * (by weight, then name); see render/hooks.ts.
 */
export const compareObjects = (a: KubeObject, b: KubeObject): number => {
  const [stageA, weightA] = applyStage(a, kindRank(a.kind));
  const [stageB, weightB] = applyStage(b, kindRank(b.kind));
  const isHookStage = stageA === 1 || stageA === 3;
  return (
    stageA - stageB ||
    weightA - weightB ||
    (isHookStage ? cmp(a.metadata.name, b.metadata.name) : 0) ||
    compareByKind(a, b)
  );
};

const compareByKind = (a: KubeObject, b: KubeObject): number =>
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
  return /\.(ya?ml|json)$/i.test(name) && !/^kustomization\.ya?ml$/i.test(name);
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

type Json = unknown;
type JsonMap = Record<string, Json>;

const isMapping = (value: unknown): value is JsonMap =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const PLACEHOLDER = /\$\{((?:values|target)\.[^}\s]*)\}/g;
const WHOLE_PLACEHOLDER = /^\$\{((?:values|target)\.[^}\s]*)\}$/;

/** Where a spec's Flux-style `substitute` variables ride along with the placeholders. */
const FLUX = Symbol('flux substitute');

/**
 * Placeholder name → value: `values.KEY` from the environment, `target.*` for targetValues apps;
 * under FLUX the app's `substitute` variables, when it opted in (render/substitute.ts).
 */
type Vars = Readonly<Record<string, string | number | boolean>> & {
  readonly [FLUX]?: Readonly<Record<string, string>>;
};

/** The placeholders a spec provides: `values.KEY`, and `target.name|region|cloud|cluster|labels.KEY`. */
export const placeholderVars = (spec: RenderSpec): Vars => {
  const vars: Record<string, string | number | boolean> & { [FLUX]?: Record<string, string> } = {};
  if (spec.substitute) vars[FLUX] = spec.substitute;
  for (const [k, v] of Object.entries(spec.values)) vars[`values.${k}`] = v;
  const t = spec.target;
  if (t) {
    Object.assign(vars, {
      'target.name': t.name,
      'target.region': t.region,
      'target.cloud': t.cloud,
      'target.cluster': t.cluster,
    });
    for (const [k, v] of Object.entries(t.labels)) vars[`target.labels.${k}`] = v;
  }
  return vars;
};

const unknownFix = (name: string, vars: Vars): string => {
  if (name.startsWith('target.')) {
    return Object.hasOwn(vars, 'target.name')
      ? 'use target.name, target.region, target.cloud, target.cluster or target.labels.KEY (a label the target has)'
      : "set targetValues: true on the app in sluice.yaml to receive the target's name, region, cloud, cluster and labels";
  }
  const key = name.slice('values.'.length);
  const known = Object.keys(vars)
    .filter((k) => k.startsWith('values.'))
    .map((k) => k.slice('values.'.length))
    .sort(cmp);
  return known.length > 0
    ? `add "${key}" to the environment's values in sluice.yaml, or use one of ${known.join(', ')}`
    : `add "${key}" under apps[].environments.<env>.values in sluice.yaml`;
};

/**
 * Replaces `${values.KEY}` and `${target.*}` in the string scalars (never the keys) of a parsed
 * document, in place. An unquoted scalar that is exactly one placeholder takes the value's own
 * type, so `replicas: ${values.replicas}` stays a number; a quoted one (`value: "${values.port}"`)
 * or a placeholder inside longer text always yields a string.
 */
const substitute = (
  doc: Document.Parsed,
  vars: Vars,
  file: string,
  lineOf: (pos: number) => number | undefined,
): void => {
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const text = node.value;
      const lookup = (name: string) => {
        if (Object.hasOwn(vars, name)) return vars[name]!;
        const line = node.range ? lineOf(node.range[0]) : undefined;
        throw new RenderError(where(file, line), `unknown value "\${${name}}"`, unknownFix(name, vars), {
          key: name.replace(/^values\./, ''),
        });
      };
      const whole = WHOLE_PLACEHOLDER.exec(text);
      if (whole && node.type === Scalar.PLAIN) node.value = lookup(whole[1]!);
      else node.value = text.replace(PLACEHOLDER, (_, name: string) => String(lookup(name)));
      const flux = vars[FLUX];
      if (flux && typeof node.value === 'string') {
        const substituted = fluxSubstitute(node.value, flux, (name) => {
          const line = node.range ? lineOf(node.range[0]) : undefined;
          throw new RenderError(
            where(file, line),
            `variable "\${${name}}" has no value and no default`,
            `add ${name} to the app's substitute: in sluice.yaml, write \${${name}:=default}, or escape it as $\${${name}} to keep it literal`,
            { variable: name },
          );
        });
        // Flux substitutes text and reads it again: an unquoted `${REPLICAS}` becomes a number.
        if (substituted !== node.value) {
          node.value = node.type === Scalar.PLAIN ? resolveKubeScalar(substituted) : substituted;
        }
      }
    },
  });
};

interface Parsed {
  object: KubeObject;
  file: string;
  line: number | undefined;
}

const where = (file: string, line: number | undefined) => (line === undefined ? file : `${file}:${line}`);

/**
 * Parses a YAML stream into objects. `vars` undefined skips placeholder substitution (helm
 * output); `withLines` false leaves line numbers out of messages (tool output has no source lines).
 */
const parseFile = (
  text: string,
  file: string,
  vars: Vars | undefined,
  limits: RenderLimits,
  withLines = true,
): Parsed[] => {
  checkFileSize(text, file, limits);
  try {
    return parseDocuments(text, file, vars, limits, withLines);
  } catch (error) {
    if (isSluiceError(error)) throw error;
    // yaml throws plain errors for resource exhaustion (alias bombs) and deep nesting: that is
    // this file's content at fault, so it fails this app, not the whole release.
    throw new RenderError(
      file,
      `cannot be read as YAML (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
      `remove the aliases (*name) that expand to more than ${limits.maxAliasCount} nodes, or simplify the document`,
    );
  }
};

const parseDocuments = (
  text: string,
  file: string,
  vars: Vars | undefined,
  limits: RenderLimits,
  withLines: boolean,
): Parsed[] => {
  const counter = new LineCounter();
  const lineOf = (pos: number): number | undefined => (withLines ? counter.linePos(pos).line : undefined);
  const docs = parseAllDocuments(text, { lineCounter: counter, merge: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return []; // an empty stream
  const out: Parsed[] = [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) {
      throw new RenderError(
        where(file, lineOf(error.pos[0])),
        `is not valid YAML (${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')})`,
        'correct the YAML syntax at that line',
      );
    }
    const start = doc.contents?.range?.[0];
    const line = start === undefined ? undefined : lineOf(start);
    if (doc.has('sops')) {
      if (!withLines) {
        // Tool output (kustomize, helm) re-serialises the document: SOPS's MAC would not verify.
        throw new RenderError(
          file,
          'holds a SOPS-encrypted document in kustomize or helm output, which re-writes it so its MAC no longer verifies',
          'keep SOPS-encrypted manifests in a plain-directory app (its own app path, no kustomization.yaml or Chart.yaml)',
        );
      }
      out.push(...sopsDocument(doc, docs.length, text, where(file, line), file, line, limits));
      continue;
    }
    try {
      resolveKubeDocument(doc);
    } catch (error) {
      if (!(error instanceof KubeYamlScalarError)) throw error;
      const at = error.offset === undefined ? line : lineOf(error.offset);
      throw new RenderError(where(file, at), error.message, error.fix);
    }
    if (vars) substitute(doc, vars, file, lineOf);
    const raw: unknown = doc.toJS({ maxAliasCount: limits.maxAliasCount });
    if (raw === null || raw === undefined) continue; // empty document, e.g. a trailing `---`
    if (!isMapping(raw)) {
      throw new RenderError(
        where(file, line),
        `document is a ${Array.isArray(raw) ? 'list' : typeof raw}, not a mapping`,
        'each YAML document must be one Kubernetes object (apiVersion, kind, metadata); split lists into documents separated by ---',
      );
    }
    for (const object of flattenList(raw, where(file, line))) {
      checkObject(object, file, line);
      out.push({ object: object as unknown as KubeObject, file, line });
    }
  }
  return out;
};

/**
 * A SOPS-encrypted document passes through unread: no substitution (SOPS's MAC covers the values),
 * and the file's text rides along in the metadata for the agent, which verifies and decrypts it
 * right before apply (core/sops.ts).
 */
const sopsDocument = (
  doc: Document,
  documents: number,
  text: string,
  at: string,
  file: string,
  line: number | undefined,
  limits: RenderLimits,
): Parsed[] => {
  const raw: unknown = doc.toJS({ maxAliasCount: limits.maxAliasCount });
  if (!isMapping(raw) || !isSopsDocument(raw)) {
    throw new RenderError(
      at,
      'has `sops:` metadata without a MAC',
      'encrypt the file with sops, or rename the `sops` key',
    );
  }
  if (documents > 1) {
    throw new RenderError(
      at,
      'is a SOPS-encrypted file with several YAML documents, which SOPS seals together',
      'put each SOPS-encrypted object in a file of its own, and encrypt each file with sops',
    );
  }
  const problem = sopsDocumentProblem(raw, text);
  if (problem) throw new RenderError(at, problem.problem, problem.fix);
  checkObject(raw, file, line);
  const object = { ...raw, sops: { ...(raw.sops as JsonMap), [SOPS_SOURCE_FIELD]: text } };
  return [{ object: object as unknown as KubeObject, file, line }];
};

/**
 * `kind: List` and the typed lists (`ConfigMapList`, …) with `items`, as `kubectl get -o yaml`
 * writes them: kubectl applies their items, so Sluice renders the items, lists within lists too.
 */
const flattenList = (object: JsonMap, at: string): JsonMap[] => {
  const kind = object.kind;
  if (typeof kind !== 'string' || !kind.endsWith('List') || !Array.isArray(object.items)) return [object];
  return object.items.flatMap((item, i) => {
    if (!isMapping(item)) {
      throw new RenderError(
        at,
        `${kind} item ${i} is a ${Array.isArray(item) ? 'list' : typeof item}, not an object`,
        'make every entry of items a Kubernetes object (apiVersion, kind, metadata)',
      );
    }
    return flattenList(item, at);
  });
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
  if (isMapping(metadata) && metadata.name === undefined && typeof metadata.generateName === 'string') {
    nameGenerated(object as unknown as KubeObject & { metadata: { generateName: string } }, at);
  }
  if (!isMapping(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    throw new RenderError(
      at,
      `${String(object.kind)} has no metadata.name`,
      'add metadata.name (generateName is accepted only on hooks: GitOps needs stable names)',
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

/**
 * `generateName` means "create a new object each time": Sluice accepts it only on hooks, named
 * from their content (render/hooks.ts), and refuses it on the app's ordinary objects, which an
 * apply must find again by name.
 */
const nameGenerated = (object: KubeObject & { metadata: { generateName: string } }, at: string): void => {
  const hook = hookOf(object);
  if (hook !== 'skip' && !hook.isHook) {
    throw new RenderError(
      at,
      `${object.kind} with generateName ${JSON.stringify(object.metadata.generateName)} has no metadata.name`,
      'give it a metadata.name, or make it a hook (helm.sh/hook: pre-install or argocd.argoproj.io/hook: PreSync/PostSync): only hooks are created anew, an ordinary object must keep its name',
      { generateName: object.metadata.generateName },
    );
  }
  object.metadata.name = generatedName(object);
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

const applyNamespace = (
  object: KubeObject,
  namespace: string | undefined,
  clusterKinds: ReadonlySet<string>,
): KubeObject => {
  if (!namespace || object.metadata.namespace || isClusterScoped(object.kind)) return object;
  if (clusterKinds.has(`${groupOf(object.apiVersion)}/${object.kind}`)) return object;
  return { ...object, metadata: { ...object.metadata, namespace } };
};

/** Groups whose kinds the API server serves itself: only CRDs can make another group's kind cluster-scoped. */
const isBuiltinGroup = (group: string): boolean => !group.includes('.') || group.endsWith('.k8s.io');

const crdClusterKinds = (objects: Iterable<unknown>, into: Set<string>): void => {
  for (const o of objects) {
    if (!isMapping(o) || o.kind !== 'CustomResourceDefinition' || !isMapping(o.spec)) continue;
    const { group, names, scope } = o.spec;
    if (
      scope === 'Cluster' &&
      typeof group === 'string' &&
      isMapping(names) &&
      typeof names.kind === 'string'
    ) {
      into.add(`${group}/${names.kind}`);
    }
  }
};

const repoCrdScans = new WeakMap<SourceTree, Promise<Set<string>>>();

/**
 * The cluster-scoped custom kinds (`group/Kind`) declared by CRDs anywhere in the repository:
 * read once per checkout, and only when an app needs it. A CRD's scope cannot change once it is
 * served, so render-cache entries keyed by the app's own inputs stay true.
 */
const repoClusterKinds = (tree: SourceTree, limits: RenderLimits): Promise<Set<string>> => {
  let scan = repoCrdScans.get(tree);
  if (!scan) {
    scan = (async () => {
      const kinds = new Set<string>();
      const files = (await tree.list('.').catch(() => [] as string[])).filter(isManifest);
      for (const file of files) {
        const text = await tree.read(file);
        if (text === undefined || Buffer.byteLength(text) > limits.maxFileBytes) continue;
        if (!/CustomResourceDefinition/.test(text) || !/scope:\s*["']?Cluster/.test(text)) continue;
        try {
          crdClusterKinds(
            parseAllDocuments(text).map((d) =>
              d.errors.length ? undefined : d.toJS({ maxAliasCount: limits.maxAliasCount }),
            ),
            kinds,
          );
        } catch {
          // a template or broken file: not a CRD this scan can read
        }
      }
      return kinds;
    })();
    repoCrdScans.set(tree, scan);
  }
  return scan;
};

/**
 * The custom kinds of this render that must not get the app's namespace: from the CRDs it
 * renders itself and, when one of its custom kinds is still unknown, from the repository's CRDs.
 */
const clusterKindsFor = async (
  tree: SourceTree,
  parsed: readonly Parsed[],
  spec: RenderSpec,
  limits: RenderLimits,
): Promise<Set<string>> => {
  const kinds = new Set<string>();
  if (!spec.namespace) return kinds;
  crdClusterKinds(
    parsed.map((p) => p.object),
    kinds,
  );
  const unknown = parsed.some(({ object }) => {
    const group = groupOf(object.apiVersion);
    return (
      !object.metadata.namespace &&
      !isBuiltinGroup(group) &&
      !isClusterScoped(object.kind) &&
      !kinds.has(`${group}/${object.kind}`)
    );
  });
  if (unknown) for (const kind of await repoClusterKinds(tree, limits)) kinds.add(kind);
  return kinds;
};

/** Indexes objects by identity, applying the app namespace; a second definition is an error. */
const indexObjects = (
  parsedObjects: Iterable<Parsed>,
  spec: RenderSpec,
  clusterKinds: ReadonlySet<string>,
  into = new Map<string, Parsed>(),
) => {
  for (const parsed of parsedObjects) {
    parsed.object = applyNamespace(parsed.object, spec.namespace, clusterKinds);
    const id = identityOf(parsed.object);
    const previous = into.get(id);
    if (previous) {
      throw new RenderError(
        where(parsed.file, parsed.line),
        `${objectRef(parsed.object)} is defined twice, also in ${where(previous.file, previous.line)}`,
        'keep one definition and delete the other (use an overlay to change an object per environment)',
        { files: [previous.file, parsed.file], object: objectRef(parsed.object) },
      );
    }
    into.set(id, parsed);
  }
  return into;
};

const readAll = async (
  tree: SourceTree,
  files: readonly string[],
  spec: RenderSpec,
  limits: RenderLimits,
): Promise<Map<string, Parsed>> => {
  const vars = placeholderVars(spec);
  const parsed: Parsed[] = [];
  for (const file of files) {
    const text = await tree.read(file);
    if (text === undefined) continue; // listed but gone: the tree changed under us; nothing to render
    parsed.push(...parseFile(text, file, vars, limits));
  }
  return indexObjects(parsed, spec, await clusterKindsFor(tree, parsed, spec, limits));
};

/**
 * Renders one app for one environment. With no `base`, every YAML file under the app path is a
 * manifest, except those under the overlay's top directory (e.g. all of `overlays/` when the
 * overlay is `overlays/prod`), so sibling environments never leak into each other.
 */
const renderDirectory = async (
  tree: SourceTree,
  spec: RenderSpec,
  limits: RenderLimits,
): Promise<RenderedObject[]> => {
  const baseDir = joinPath(spec.path, spec.base ?? '.');
  const overlayDir = spec.overlay === undefined ? undefined : joinPath(spec.path, spec.overlay);
  const excluded =
    overlayDir === undefined || spec.base !== undefined
      ? undefined
      : joinPath(spec.path, joinPath(spec.overlay!).split('/')[0]!);

  const baseFiles = (await listManifests(tree, baseDir)).filter(
    (f) =>
      (excluded === undefined || !isUnder(f, excluded)) &&
      // `directory.recurse: false` (Argo CD's default): files directly in the directory only.
      (spec.directory?.recurse !== false || !f.slice(baseDir === '.' ? 0 : baseDir.length + 1).includes('/')),
  );
  if (baseFiles.length === 0) {
    throw new RenderError(
      baseDir,
      `app "${spec.app}" has no YAML manifests in its directory`,
      `add *.yaml files under ${baseDir}, or correct apps[].path${spec.base ? '/base' : ''} in sluice.yaml`,
    );
  }
  const base = await readAll(tree, baseFiles, spec, limits);
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
    for (const [id, patch] of await readAll(tree, overlayFiles, spec, limits)) {
      const target = result.get(id);
      if (target) {
        const merged = mergeOverlay(target.object, patch.object) as KubeObject;
        result.set(id, { object: merged, file: target.file, overlayFile: patch.file });
      } else {
        result.set(id, { object: stripNulls(patch.object) as KubeObject, file: patch.file });
      }
    }
  }

  return finish([...result.values()], spec, limits, baseDir);
};

/** Checks, normalises and sorts a render; `where` names the app's directory or tool input in a limit error. */
const finish = (
  all: readonly RenderedObject[],
  spec: RenderSpec,
  limits: RenderLimits,
  where: string,
): RenderedObject[] => {
  const objects = all.filter((r) => hookOf(r.object) !== 'skip'); // helm tests, delete hooks, …
  for (const r of objects) {
    const tool = gitopsToolOf(r.object);
    if (!tool) continue;
    throw new RenderError(
      r.overlayFile ?? r.file,
      `${objectRef(r.object)} (${r.object.apiVersion}) is ${tool === 'Flux' ? 'a' : 'an'} ${tool} object: Sluice does not run ${tool}'s controller, so it would be deployed as an inert custom object`,
      `run \`sluice import --from ${tool === 'Flux' ? 'flux' : 'argocd'} <repo>\` to turn it into sluice.yaml apps (docs/migrate.md), then keep ${tool}'s objects out of this app's path`,
      { object: objectRef(r.object), tool },
    );
  }
  if (objects.length > limits.maxObjects) {
    throw new RenderError(
      where,
      `app "${spec.app}" renders ${objects.length} objects, over the limit of ${limits.maxObjects} per app`,
      LIMIT_FIX('SLUICE_RENDER_MAX_OBJECTS'),
      { limit: 'maxObjects', objects: objects.length },
    );
  }
  let bytes = 0;
  const out = objects.map((r) => {
    checkObject(r.object as unknown as JsonMap, r.overlayFile ?? r.file, undefined);
    bytes += Buffer.byteLength(JSON.stringify(r.object));
    return { ...r, object: normaliseKeys(r.object) as KubeObject };
  });
  if (bytes > limits.maxRenderedBytes) {
    throw new RenderError(
      where,
      `app "${spec.app}" renders ${bytes} bytes, over the limit of ${limits.maxRenderedBytes} bytes per app`,
      LIMIT_FIX('SLUICE_RENDER_MAX_RENDERED_BYTES'),
      { limit: 'maxRenderedBytes', bytes },
    );
  }
  return sortRendered(out);
};

// ---------------------------------------------------------------------------------------------
// kinds: directory, kustomize, helm

const KUSTOMIZATION_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

const kustomizationIn = async (
  tree: SourceTree,
  dir: string,
): Promise<{ file: string; text: string } | undefined> => {
  for (const name of KUSTOMIZATION_NAMES) {
    const file = joinPath(dir, name);
    const text = await tree.read(file);
    if (text !== undefined) return { file, text };
  }
  return undefined;
};

/** The directory `kubectl kustomize` builds: the overlay, else the base, else the app path. */
const kustomizeDir = (spec: RenderSpec): string => joinPath(spec.path, spec.overlay ?? spec.base ?? '.');

const chartDir = (spec: RenderSpec): string => joinPath(spec.path, spec.helm?.chart ?? '.');

/** The app's kind as declared, else detected: a kustomization → kustomize, a Chart.yaml → helm. */
export const detectKind = async (tree: SourceTree, spec: RenderSpec): Promise<AppKind> => {
  if (spec.kind) return spec.kind;
  if (spec.helm) return 'helm';
  if (await kustomizationIn(tree, kustomizeDir(spec))) return 'kustomize';
  if ((await tree.read(joinPath(chartDir(spec), 'Chart.yaml'))) !== undefined) return 'helm';
  return 'directory';
};

/**
 * Spellings kustomize (and go-getter, which it borrowed from) reads as a remote source: any
 * scheme in any case (`https:`, `HTTPS://`, `file:`, `git::`, `ssh:`, `gh:`), a network path
 * (`//host/x`), scp-like `user@host:path`, a query (`?ref=`, `?version=`), `_git/`, and a
 * well-known host without a scheme. For those kustomize tries the remote reading before the
 * local one (measured with kustomize 5.7), so they are refused even when a local directory of
 * that name exists; any other host-like name is remote unless the commit holds it.
 */
const ALWAYS_REMOTE =
  /^[a-z][a-z0-9+.-]*:|^[\\/]{2}|^[^/]*@[^/]*:|[?#]|(^|\/)_git(\/|$)|^(www\.)?(github\.com|gitlab\.com|bitbucket\.org|dev\.azure\.com|ssh\.dev\.azure\.com)(\/|:|$)/i;
/** A first segment that reads as a host name (`example.com/org/repo`): remote unless it is in the commit. */
const HOST_LIKE = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}(:\d+)?\/./i;

/** True when kustomize or helm would fetch `ref` over the network instead of reading the commit. */
export const isRemoteRef = async (
  tree: SourceTree | undefined,
  dir: string,
  ref: string,
): Promise<boolean> => {
  const text = ref.trim();
  if (ALWAYS_REMOTE.test(text)) return true;
  if (!HOST_LIKE.test(text)) return false;
  if (!tree) return true;
  const local = posix.normalize(`${dir === '.' ? '' : `${dir}/`}${text}`).replace(/\/$/, '');
  if ((await tree.read(local)) !== undefined) return false;
  return (await tree.list(local).catch(() => [] as string[])).length === 0;
};

const strings = (value: unknown): string[] =>
  Array.isArray(value)
    ? value.filter((v): v is string => typeof v === 'string')
    : typeof value === 'string'
      ? [value]
      : [];

const maps = (value: unknown): JsonMap[] => (Array.isArray(value) ? value.filter(isMapping) : []);

/** Every local path a kustomization refers to (inline patches excluded). */
const kustomizationRefs = (k: JsonMap): string[] => {
  const refs: string[] = [];
  for (const field of [
    'resources',
    'bases',
    'components',
    'crds',
    'patchesStrategicMerge',
    'transformers',
    'generators',
    'validators',
    'configurations',
  ]) {
    refs.push(...strings(k[field]).filter((s) => !s.includes('\n')));
  }
  for (const field of ['patches', 'patchesJson6902', 'replacements']) {
    for (const item of maps(k[field])) if (typeof item.path === 'string') refs.push(item.path);
  }
  for (const field of ['configMapGenerator', 'secretGenerator']) {
    for (const generator of maps(k[field])) {
      for (const f of strings(generator.files)) refs.push(f.includes('=') ? f.slice(f.indexOf('=') + 1) : f);
      refs.push(...strings(generator.envs), ...strings(generator.env));
    }
  }
  if (isMapping(k.openapi) && typeof k.openapi.path === 'string') refs.push(k.openapi.path);
  return refs;
};

/** Resolves `ref` against repo-relative `dir`; refuses absolute paths and paths above the repo root. */
const insideRepo = (dir: string, ref: string, file: string, what: string): string => {
  const target = posix.normalize(`${dir === '.' ? '' : `${dir}/`}${ref}`).replace(/\/$/, '') || '.';
  if (ref.startsWith('/') || target === '..' || target.startsWith('../')) {
    throw new RenderError(
      file,
      `${what} ${JSON.stringify(ref)} is outside the repository`,
      'keep every base, component, patch, values file and chart dependency inside the config repository and refer to it by a relative path',
      { ref },
    );
  }
  return target;
};

/** Parses a small YAML control file (kustomization, Chart.yaml) within the limits. */
const parseControlFile = (text: string, file: string, limits: RenderLimits): unknown => {
  checkFileSize(text, file, limits);
  try {
    return parse(text, { maxAliasCount: limits.maxAliasCount });
  } catch (error) {
    throw new RenderError(
      file,
      `is not valid YAML (${String((error as Error).message).split('\n')[0]})`,
      'correct the YAML syntax',
    );
  }
};

const walkKustomization = async (
  tree: SourceTree,
  dir: string,
  inputs: Set<string>,
  limits: RenderLimits,
): Promise<void> => {
  if (inputs.has(dir)) return;
  inputs.add(dir);
  const found = await kustomizationIn(tree, dir);
  if (!found) return; // a plain resource directory: kustomize itself explains what is wrong
  const k = parseControlFile(found.text, found.file, limits);
  if (!isMapping(k)) return;
  if (k.helmCharts !== undefined || k.helmChartInflationGenerator !== undefined) {
    throw new RenderError(
      found.file,
      'inflates Helm charts (helmCharts), which needs kustomize --enable-helm and network access at render time',
      'declare the chart as its own app with kind: helm, or render it once and commit the output',
    );
  }
  for (const ref of kustomizationRefs(k)) {
    if (await isRemoteRef(tree, dir, ref)) {
      throw new RenderError(
        found.file,
        `refers to the remote resource ${JSON.stringify(ref)}, which would be fetched at render time`,
        'vendor it into the repository and refer to it by a relative path: a render must follow from the commit alone',
        { ref },
      );
    }
    const target = insideRepo(dir, ref, found.file, 'reference');
    if ((await tree.read(target)) !== undefined) inputs.add(target);
    else await walkKustomization(tree, target, inputs, limits);
  }
};

/**
 * A chart's dependencies (Chart.yaml, or requirements.yaml of apiVersion v1 charts): `file://`
 * ones must stay inside the repository; any other repository (https, oci, `@alias`, any
 * spelling) is accepted only when the chart is vendored under charts/, since `helm template`
 * then reads it from the commit and fetches nothing.
 */
const checkChartDependencies = async (
  tree: SourceTree,
  dir: string,
  inputs: Set<string>,
  limits: RenderLimits,
): Promise<void> => {
  const vendored = new Set(
    (await tree.list(joinPath(dir, 'charts')).catch(() => [] as string[])).map(
      (f) => f.slice(joinPath(dir, 'charts').length + 1).split('/')[0]!,
    ),
  );
  for (const name of ['Chart.yaml', 'requirements.yaml']) {
    const file = joinPath(dir, name);
    const text = await tree.read(file);
    if (text === undefined) continue;
    const chart = parseControlFile(text, file, limits);
    maps(isMapping(chart) ? chart.dependencies : undefined).forEach((dep, i) => {
      const repository = typeof dep.repository === 'string' ? dep.repository.trim() : '';
      const entry = `dependencies[${i}] (${JSON.stringify(dep.name ?? '')}, repository ${JSON.stringify(repository)})`;
      if (/^file:\/\//i.test(repository)) {
        inputs.add(insideRepo(dir, repository.replace(/^file:\/\//i, ''), file, `dependency ${entry}`));
        return;
      }
      if (repository === '') return;
      const depName = typeof dep.name === 'string' ? dep.name : '';
      const version = typeof dep.version === 'string' ? dep.version : '';
      if (vendored.has(depName) || vendored.has(`${depName}-${version}.tgz`)) return;
      throw new RenderError(
        file,
        `${entry} is a remote chart that is not vendored under ${joinPath(dir, 'charts')}/, so it would be fetched at render time`,
        'run `helm dependency build` and commit the charts/ directory, or point repository at file://<relative path> inside the repository',
        { entry: i, repository },
      );
    });
  }
};

const helmInputs = async (
  tree: SourceTree,
  spec: RenderSpec,
  inputs: Set<string>,
  limits: RenderLimits,
): Promise<void> => {
  for (const file of spec.valueFiles ?? []) {
    const values = joinPath(spec.path, file);
    if ((await tree.read(values)) === undefined) {
      throw new RenderError(
        values,
        `values file of app "${spec.app}"${spec.environment ? ` in environment "${spec.environment}"` : ''} does not exist`,
        `create ${values}, or correct valueFiles in sluice.yaml (relative to the app path ${spec.path})`,
      );
    }
    inputs.add(values);
  }
  if (spec.helm?.repo) return;
  const dir = chartDir(spec);
  inputs.add(dir);
  const chartFile = joinPath(dir, 'Chart.yaml');
  const text = await tree.read(chartFile);
  if (text === undefined) {
    throw new RenderError(
      chartFile,
      `app "${spec.app}" is a helm app but its chart has no Chart.yaml`,
      'point helm.chart (relative to the app path) at a chart directory, or set kind to kustomize or directory',
    );
  }
  await checkChartDependencies(tree, dir, inputs, limits);
};

/** What a render reads: its kind and the repo-relative files and directories it depends on. */
export interface RenderInputs {
  kind: AppKind;
  /** Sorted; every file under a listed directory counts. */
  inputs: string[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const CHART_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/**
 * Every spec value that reaches a tool's command line or a path, checked again here (sluice.yaml's
 * schema checks them first): a render spec also arrives in an event, and the render Lambda
 * must not trust its producer.
 */
export const checkRenderSpec = (spec: RenderSpec): void => {
  const refuse = (field: string, value: string, problem: string, fix: string): never => {
    throw new RenderError(
      'sluice.yaml',
      `app ${JSON.stringify(spec.app)}: ${field} ${JSON.stringify(value)} ${problem}`,
      fix,
      { field, value },
    );
  };
  if (!DNS_LABEL.test(spec.app)) {
    refuse('name', spec.app, 'is not a DNS label', 'name the app with lower-case letters, digits and "-"');
  }
  const paths: [string, string | undefined][] = [
    ['path', spec.path],
    ['base', spec.base],
    [`environments.${spec.environment ?? '<env>'}.overlay`, spec.overlay],
    ['helm.chart', spec.helm?.chart],
    ...(spec.valueFiles ?? []).map(
      (f, i) => [`environments.${spec.environment ?? '<env>'}.valueFiles[${i}]`, f] as [string, string],
    ),
  ];
  for (const [field, value] of paths) {
    const problem = value === undefined ? undefined : unsafeRepoPath(value);
    if (problem)
      refuse(field, value!, problem, 'write a relative path inside the config repository, such as apps/web');
  }
  if (spec.target !== undefined && !DNS_LABEL.test(spec.target.name)) {
    refuse(
      'target',
      spec.target.name,
      'is not a DNS label',
      'name the target with lower-case letters, digits and "-"',
    );
  }
  if (spec.namespace !== undefined && !DNS_LABEL.test(spec.namespace)) {
    refuse('namespace', spec.namespace, 'is not a DNS label', 'use lower-case letters, digits and "-"');
  }
  const { releaseName, name, repo } = spec.helm ?? {};
  if (releaseName !== undefined && !DNS_LABEL.test(releaseName)) {
    refuse('helm.releaseName', releaseName, 'is not a DNS label', 'use lower-case letters, digits and "-"');
  }
  if (name !== undefined && !CHART_NAME.test(name)) {
    refuse(
      'helm.name',
      name,
      'is not a chart name',
      'use letters, digits, ".", "_" and "-", not starting with "-"',
    );
  }
  if (repo !== undefined && !/^(https?|oci):\/\/[^\s-][^\s]*$/i.test(repo)) {
    refuse('helm.repo', repo, 'is not an https://, http:// or oci:// URL', 'give the chart repository URL');
  }
};

export const renderInputs = async (
  tree: SourceTree,
  spec: RenderSpec,
  limits: RenderLimits = DEFAULT_RENDER_LIMITS,
): Promise<RenderInputs> => {
  checkRenderSpec(spec);
  const kind = await detectKind(tree, spec);
  const inputs = new Set<string>();
  if (kind === 'kustomize') await walkKustomization(tree, kustomizeDir(spec), inputs, limits);
  else if (kind === 'helm') await helmInputs(tree, spec, inputs, limits);
  else {
    inputs.add(joinPath(spec.path, spec.base ?? '.'));
    if (spec.overlay !== undefined) inputs.add(joinPath(spec.path, spec.overlay));
  }
  return { kind, inputs: [...inputs].sort(cmp) };
};

const toolFailure = (file: string, tool: string, result: Exclude<ToolResult, { ok: true }>): RenderError => {
  const fixes = {
    failed: `correct the file named in ${tool}'s message; \`sluice render ${file.slice(0, file.lastIndexOf('/')) || '.'}\` shows the same error locally`,
    timeout: 'make the render smaller (split the app) or look for a template that loops without end',
    refused: 'keep everything the render reads inside the config repository',
  };
  return new RenderError(
    file,
    `${tool} ${result.reason === 'refused' ? 'refused' : 'failed'}: ${result.message}`,
    result.fix ?? fixes[result.reason],
    {
      tool,
      reason: result.reason,
      stderr: result.message,
    },
  );
};

const needTools = (renderer: ManifestRenderer | undefined, file: string, kind: AppKind): ManifestRenderer => {
  if (renderer) return renderer;
  throw new RenderError(
    file,
    `is a ${kind} app, but no render tools were given to this renderer`,
    'run the render with kubectl and helm available (npm install provides them)',
  );
};

/** Sluice's values for helm: dotted keys nest (`image.tag`), target facts under `sluice.target`. */
export const helmValues = (spec: RenderSpec): Record<string, unknown> => {
  const out: JsonMap = {};
  const set = (keys: readonly string[], value: unknown) => {
    let node = out;
    for (const key of keys.slice(0, -1)) {
      if (!isMapping(node[key])) node[key] = {};
      node = node[key] as JsonMap;
    }
    node[keys.at(-1)!] = value;
  };
  for (const [key, value] of Object.entries(spec.values)) set(key.split('.'), value);
  if (spec.target) set(['sluice', 'target'], { ...spec.target });
  return out;
};

const renderKustomize = async (
  tree: SourceTree,
  spec: RenderSpec,
  renderer: ManifestRenderer | undefined,
  inputs: readonly string[],
  limits: RenderLimits,
): Promise<RenderedObject[]> => {
  const dir = kustomizeDir(spec);
  const file = (await kustomizationIn(tree, dir))?.file ?? joinPath(dir, 'kustomization.yaml');
  const result = await needTools(renderer, file, 'kustomize').kustomize({ root: tree.root, dir, inputs });
  if (!result.ok) throw toolFailure(file, 'kustomize', result);
  const parsed = parseFile(result.stdout, file, placeholderVars(spec), outputLimits(limits), false);
  const objects = indexObjects(parsed, spec, await clusterKindsFor(tree, parsed, spec, limits));
  return finish(
    [...objects.values()].map((p) => ({ object: p.object, file: p.file })),
    spec,
    limits,
    file,
  );
};

const renderHelm = async (
  tree: SourceTree,
  spec: RenderSpec,
  renderer: ManifestRenderer | undefined,
  inputs: readonly string[],
  limits: RenderLimits,
): Promise<RenderedObject[]> => {
  const dir = chartDir(spec);
  const repo = spec.helm?.repo;
  const file = repo ? 'sluice.yaml' : joinPath(dir, 'Chart.yaml');
  const template = async (): Promise<RenderedObject[]> => {
    const result = await needTools(renderer, file, 'helm').helmTemplate({
      root: tree.root,
      ...(repo
        ? {
            repo: {
              url: repo,
              name: spec.helm?.name ?? spec.app,
              version: spec.helm?.version ?? '',
              ...(spec.helm?.digest ? { digest: spec.helm.digest } : {}),
            },
          }
        : { chart: dir }),
      releaseName: spec.helm?.releaseName ?? spec.app,
      ...(spec.namespace ? { namespace: spec.namespace } : {}),
      valueFiles: (spec.valueFiles ?? []).map((f) => joinPath(spec.path, f)),
      values: helmValues(spec),
      includeCrds: spec.helm?.includeCrds ?? true,
      inputs,
    });
    if (!result.ok) throw toolFailure(file, 'helm template', result);
    const parsed: Parsed[] = [];
    for (const chunk of result.stdout.split(/^---[ \t]*$/m)) {
      // `# Source: CHART/templates/x.yaml` names the template; map it back into the repo.
      const source = /^# Source: (.+)$/m.exec(chunk)?.[1]?.trim();
      const at = source && !repo ? joinPath(dir, source.split('/').slice(1).join('/')) : file;
      parsed.push(...parseFile(chunk, at, undefined, outputLimits(limits), false));
    }
    return finish(
      [...indexObjects(parsed, spec, await clusterKindsFor(tree, parsed, spec, limits)).values()].map(
        (p) => ({
          object: p.object,
          file: p.file,
        }),
      ),
      spec,
      limits,
      file,
    );
  };
  // Twice: a chart that draws random values (randAlphaNum, genCA, uuidv4) outside its test hooks
  // would give every render a new digest and redeploy new passwords and certificates each push.
  const first = await template();
  checkDeterministic(first, await template(), file);
  return first;
};

/** Refuses a render whose two runs over the same input differ, naming the objects that do. */
const checkDeterministic = (
  a: readonly RenderedObject[],
  b: readonly RenderedObject[],
  file: string,
): void => {
  const index = (objects: readonly RenderedObject[]) =>
    new Map(objects.map((r) => [identityOf(r.object), { r, json: JSON.stringify(r.object) }]));
  const first = index(a);
  const second = index(b);
  const differing: string[] = [];
  for (const [id, { r, json }] of first) {
    const other = second.get(id);
    if (!other) differing.push(`${objectRef(r.object)} (${r.file}: its name changes)`);
    else if (other.json !== json) differing.push(`${objectRef(r.object)} (${r.file}: its content changes)`);
  }
  for (const [id, { r }] of second) if (!first.has(id)) differing.push(`${objectRef(r.object)} (${r.file})`);
  if (differing.length === 0) return;
  throw new RenderError(
    file,
    `helm template gives different output for the same commit and values in two runs: ${differing.slice(0, 5).join(', ')}${differing.length > 5 ? ` and ${differing.length - 5} more` : ''}; the bundle digest would change on every render and redeploy the changed objects`,
    'pass the generated value in (most charts take an existing Secret or a fixed value: set it in values), or move the object into a test hook; functions such as randAlphaNum, genCA, genSelfSignedCert, uuidv4 and now make a render non-deterministic',
    { nondeterministic: differing },
  );
};

/**
 * Renders one app for one environment (and one target, for targetValues apps): plain YAML in
 * process, kustomize and helm through the injected tools. The result is sorted and normalised,
 * every object has apiVersion, kind and name, and no identity appears twice.
 */
export const renderApp = async (
  tree: SourceTree,
  spec: RenderSpec,
  renderer?: ManifestRenderer,
  prepared?: RenderInputs,
  limits: RenderLimits = DEFAULT_RENDER_LIMITS,
): Promise<RenderedObject[]> => {
  checkRenderSpec(spec);
  const { kind, inputs } = prepared ?? (await renderInputs(tree, spec, limits));
  if (kind === 'kustomize') return renderKustomize(tree, spec, renderer, inputs, limits);
  if (kind === 'helm') return renderHelm(tree, spec, renderer, inputs, limits);
  return renderDirectory(tree, spec, limits);
};

/** A tool's whole output is one "file": it is bounded by the rendered-bytes limit instead. */
const outputLimits = (limits: RenderLimits): RenderLimits => ({
  ...limits,
  maxFileBytes: Math.max(limits.maxFileBytes, limits.maxRenderedBytes),
});

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
    ...(app.kind === undefined ? {} : { kind: app.kind }),
    ...(app.helm === undefined ? {} : { helm: { ...app.helm } }),
    ...(env?.valueFiles.length ? { valueFiles: [...env.valueFiles] } : {}),
    ...(app.substitute === undefined ? {} : { substitute: sortedRecord(app.substitute) }),
    ...(app.directory === undefined ? {} : { directory: { recurse: app.directory.recurse } }),
  };
};

/**
 * The RenderSpec of an app on a target: its environment comes from the target's labels. Only
 * apps with `targetValues: true` carry the target in the spec (and so render once per target).
 */
export const renderSpecFor = (config: FleetConfig, app: AppConfig, target: TargetConfig): RenderSpec => {
  const spec = renderSpecForEnvironment(config, app, environmentFor(app, target));
  if (!app.targetValues) return spec;
  return {
    ...spec,
    target: {
      name: target.name,
      cloud: target.cloud,
      region: target.region,
      cluster: target.cluster.kind === 'eks' ? target.cluster.name : target.name,
      labels: sortedRecord(target.labels),
    },
  };
};
