/**
 * The policy layers after the built-in pack, run the same way by the render stage and by
 * `sluice validate`: `schema` (OpenAPI validation against the target's Kubernetes version) and
 * the config repo's ValidatingAdmissionPolicies. Both report the built-in pack's Violation shape.
 */
import type { KubeSchemaSource, KubeSchemas, SourceTree } from '../ports/index.ts';
import { CONFIG_FILE, DEFAULT_KUBERNETES_VERSION, type FleetConfig } from '../schemas/config.ts';
import type { Violation } from '../schemas/events.ts';
import { type AdmissionSet, checkAdmission, EMPTY_ADMISSION, loadAdmission } from './admission.ts';
import { parseFleetConfig } from './config.ts';
import { checkPolicies, compareViolations } from './policy.ts';
import { objectRef, type RenderedObject } from './render.ts';
import { type CrdKind, checkSchemas, crdsInTree, indexCrds, SCHEMA_POLICY } from './schema-validation.ts';

export interface PolicyLayerDeps {
  /** The vendored Kubernetes OpenAPI schemas; without them the `schema` layer is skipped. */
  readonly schemas?: KubeSchemaSource | undefined;
}

/** What one commit's policy layers need, loaded once per commit and shared by its renders. */
export interface PolicyLayers {
  readonly source: KubeSchemaSource | undefined;
  readonly config: FleetConfig | undefined;
  /** CRDs kept anywhere in the config repo. */
  readonly crds: ReadonlyMap<string, CrdKind>;
  readonly admission: AdmissionSet;
}

const readConfig = async (tree: SourceTree): Promise<FleetConfig | undefined> => {
  const text = await tree.read(CONFIG_FILE);
  if (text === undefined) return undefined;
  try {
    return parseFleetConfig(text, CONFIG_FILE);
  } catch {
    return undefined; // the plan stage already reported it; a bad config never reaches render
  }
};

/** Reads sluice.yaml, the repo's CRDs and its admission policies (`policies.admission`). */
export const loadPolicyLayers = async (deps: PolicyLayerDeps, tree: SourceTree): Promise<PolicyLayers> => {
  const config = await readConfig(tree);
  return {
    source: deps.schemas,
    config,
    crds: deps.schemas ? indexCrds(await crdsInTree(tree)) : new Map(),
    admission: config ? await loadAdmission(tree, config.policies.admission) : EMPTY_ADMISSION,
  };
};

/** The Kubernetes versions of the named targets (the default for targets that set none). */
export const versionsOf = (layers: PolicyLayers, targets: readonly string[]): string[] => {
  const versions = new Set<string>();
  for (const name of targets) {
    const target = layers.config?.targets.find((t) => t.name === name);
    versions.add(target?.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION);
  }
  if (versions.size === 0) versions.add(DEFAULT_KUBERNETES_VERSION);
  return [...versions].sort();
};

/**
 * Runs `schema` once per Kubernetes version among the release's targets (a violation found
 * for several versions is reported once) and the admission policies; sorted like the pack.
 */
export const checkLayers = async (
  layers: PolicyLayers,
  objects: readonly RenderedObject[],
  options: { disabled: readonly string[]; versions: readonly string[] },
): Promise<Violation[]> => {
  const out = new Map<string, Violation>();
  const add = (vs: readonly Violation[]) => {
    for (const v of vs) out.set(JSON.stringify(v), v);
  };
  let schemas: KubeSchemas | undefined;
  const crds = indexCrds(
    objects.map((r) => r.object),
    new Map(layers.crds),
  );
  if (layers.source && !options.disabled.includes(SCHEMA_POLICY)) {
    for (const version of options.versions) {
      const loaded = await layers.source.load(version);
      if (!loaded) continue;
      schemas ??= loaded;
      add(
        checkSchemas(objects, {
          schemas: loaded,
          crds,
          strictCrds: layers.config?.policies.crds?.strict ?? false,
        }),
      );
    }
  }
  if (layers.admission.bindings.length > 0) {
    schemas ??= await layers.source?.load(options.versions[0] ?? DEFAULT_KUBERNETES_VERSION);
    add(checkAdmission(layers.admission, objects, { schemas, crds }));
  }
  return [...out.values()].sort(compareViolations);
};

/** The warning policy for `${VAR}` left literally in the output of an app without `substitute:`. */
export const UNRESOLVED_VARIABLE_POLICY = 'unresolved-variable';

const PLACEHOLDER = /\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-=][^}]*)?\}/;

/** The first string in `value` holding a Flux-style placeholder, with its path. */
const placeholderIn = (value: unknown, at: string): { path: string; text: string } | undefined => {
  if (typeof value === 'string') {
    const m = PLACEHOLDER.exec(value);
    return m ? { path: at, text: m[0] } : undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = placeholderIn(value[i], `${at}[${i}]`);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      const found = placeholderIn(v, at ? `${at}.${key}` : key);
      if (found) return found;
    }
  }
  return undefined;
};

/**
 * Warnings (never a rejection) for objects that still hold a literal `${VAR}` when the app sets
 * no `substitute:`: Flux would have substituted it, Sluice deploys it as written. With
 * `substitute:` an unresolved variable is already a Render Failed, and what is left came from a
 * `$${VAR}` escape, meant literally.
 */
export const unresolvedVariables = (objects: readonly RenderedObject[]): Violation[] => {
  const out: Violation[] = [];
  for (const rendered of objects) {
    const { metadata: _metadata, ...body } = rendered.object as unknown as Record<string, unknown>;
    const found = placeholderIn(body, '');
    if (!found) continue;
    out.push({
      policy: UNRESOLVED_VARIABLE_POLICY,
      object: objectRef(rendered.object),
      file: rendered.file,
      message: `${found.path} holds ${found.text}, deployed literally: the app sets no substitute:`,
      fix: "if it is a Flux post-build variable, give its value in the app's substitute: (docs/rendering.md); if it is meant literally (a shell script), nothing to do",
      severity: 'warning',
    });
  }
  return out;
};

/**
 * The whole policy verdict on one render: the built-in pack, then the layers for the Kubernetes
 * versions of the given targets. The render stage and `sluice validate` both call this, so a
 * render is judged the same way before a push and after it.
 */
export const checkRender = async (
  layers: PolicyLayers,
  objects: readonly RenderedObject[],
  options: { disabled: readonly string[]; targets: readonly string[]; substituted?: boolean },
): Promise<Violation[]> =>
  [
    ...checkPolicies(objects, options.disabled),
    ...(options.substituted ? [] : unresolvedVariables(objects)),
    ...(await checkLayers(layers, objects, {
      disabled: options.disabled,
      versions: versionsOf(layers, options.targets),
    })),
  ].sort(compareViolations);
