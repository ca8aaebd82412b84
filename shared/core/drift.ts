/**
 * Drift, pure: compares a live object with what re-applying the last applied bundle would make
 * of it (the server's dry run, so defaults and normalisation such as `500m` vs `0.5` never show
 * as drift). Only fields the bundle sets can differ: fields other managers own and Sluice does
 * not declare are left out of the dry run's changes, so they are never reported or fought.
 */

import { BadInputError } from '../errors.ts';
import type { BundleStore, Clock, ClusterClient, EventBus, LiveObject, SecretStore } from '../ports/index.ts';
import type { DriftCheckRequested, DriftDetected } from '../schemas/events.ts';
import { type AgentDeps, resolveSecretRefs } from './agent.ts';
import { attribute } from './attribution.ts';
import { decodeBundle } from './bundle.ts';
import { objectId } from './health.ts';
import { decryptSopsObjects } from './sops.ts';

export interface DriftDiff {
  /** `Kind/namespace/name`. */
  readonly object: string;
  /** `spec.replicas`, `spec.template.spec.containers[name=web].image`. */
  readonly path: string;
  readonly desired: unknown;
  readonly live: unknown;
  /** The field manager that holds the live value, when the cluster says (e.g. `kubectl-edit`). */
  readonly manager?: string;
}

export const REDACTED = '(redacted)';

/** Server-owned bookkeeping that changes on every write and is never drift. */
const IGNORED = new Set([
  'metadata.managedFields',
  'metadata.resourceVersion',
  'metadata.generation',
  'metadata.creationTimestamp',
  'metadata.uid',
  'metadata.selfLink',
  'status',
]);

type Json = unknown;

const isObject = (v: Json): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const keyed = (v: Json): v is { name: string }[] =>
  Array.isArray(v) && v.length > 0 && v.every((i) => isObject(i) && typeof i.name === 'string');
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

const walk = (
  path: string,
  desired: Json,
  live: Json,
  out: { path: string; desired: Json; live: Json }[],
) => {
  if (IGNORED.has(path)) return;
  if (isObject(desired) && isObject(live)) {
    for (const key of [...new Set([...Object.keys(desired), ...Object.keys(live)])].sort()) {
      walk(join(path, key), desired[key], live[key], out);
    }
    return;
  }
  if (keyed(desired) && keyed(live)) {
    const names = [...new Set([...desired.map((i) => i.name), ...live.map((i) => i.name)])];
    for (const name of names) {
      walk(
        `${path}[name=${name}]`,
        desired.find((i) => i.name === name),
        live.find((i) => i.name === name),
        out,
      );
    }
    return;
  }
  if (JSON.stringify(desired) !== JSON.stringify(live)) out.push({ path, desired, live });
};

/** fieldsV1 key for a path segment: `f:replicas`, or `k:{"name":"web"}` for a keyed list item. */
const fieldKeys = (path: string): string[] =>
  path.split(/\.(?![^[]*\])/).flatMap((segment) => {
    const m = /^([^[]+)\[name=(.+)\]$/.exec(segment);
    return m ? [`f:${m[1]}`, `k:${JSON.stringify({ name: m[2] })}`] : [`f:${segment}`];
  });

const ownerOf = (live: LiveObject | undefined, path: string): string | undefined => {
  // Sluice's own entry last: the interesting owner is whoever took the field.
  const entries = [...(live?.metadata.managedFields ?? [])].sort(
    (a, b) => Number(a.manager === 'sluice') - Number(b.manager === 'sluice'),
  );
  for (const entry of entries) {
    let node: unknown = entry.fieldsV1;
    for (const key of fieldKeys(path)) {
      node = isObject(node) ? node[key] : undefined;
      if (node === undefined) break;
    }
    if (node !== undefined && entry.manager) return entry.manager;
  }
  return undefined;
};

/** The differences between a live object and its desired (dry-run) form, secret values redacted. */
export const diffObject = (desired: LiveObject, live: LiveObject | undefined): DriftDiff[] => {
  const object = objectId(desired);
  if (!live) return [{ object, path: '', desired: 'present', live: 'absent' }];
  const found: { path: string; desired: Json; live: Json }[] = [];
  walk('', desired, live, found);
  const secret = desired.kind === 'Secret';
  return found.map((d) => {
    const hidden = secret && /^(data|stringData)(\.|$)/.test(d.path);
    const manager = ownerOf(live, d.path);
    return {
      object,
      path: d.path,
      desired: hidden ? REDACTED : d.desired,
      live: hidden && d.live !== undefined ? REDACTED : d.live,
      ...(manager ? { manager } : {}),
    };
  });
};

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

/** One line per difference: `Deployment/web/api spec.replicas: want 2, live 5 (changed by kubectl-edit)`. */
export const formatDrift = (diffs: readonly DriftDiff[]): string =>
  diffs
    .map(
      (d) =>
        `${d.object}${d.path ? ` ${d.path}` : ''}: want ${show(d.desired)}, live ${show(d.live)}${d.manager ? ` (changed by ${d.manager})` : ''}`,
    )
    .join('\n');

export interface DriftDeps {
  readonly bundles: BundleStore;
  readonly secrets: SecretStore;
  readonly bus: EventBus;
  readonly clock: Clock;
  /** SOPS-encrypted manifests, as the agent opens them (AgentDeps.sops). */
  readonly sops?: AgentDeps['sops'];
}

/**
 * Compares an app's live objects with its last applied bundle (on schedule or on demand) and
 * publishes Drift Detected with the differences; heals them (applies the bundle again, taking
 * back Sluice's fields) when the app has sync.selfHeal. Returns the event, or undefined when
 * nothing drifted or the app was never applied here.
 */
export const checkDrift = async (
  deps: DriftDeps,
  cluster: ClusterClient,
  input: { app: string; target: string; heal?: boolean },
): Promise<DriftDetected | undefined> => {
  const inventory = await cluster.readInventory(input.app);
  const source = inventory?.source;
  if (!inventory || !source) return undefined;
  const bundle = decodeBundle(await deps.bundles.get({ key: source.bundleKey, digest: inventory.digest }));
  // Compared and healed as the agent applied them: SOPS documents decrypted, references resolved,
  // the attribution annotations the inventory recorded (so they are never drift, unless edited).
  const resolved = await resolveSecretRefs(
    await decryptSopsObjects(bundle.objects, { secrets: deps.secrets, ...deps.sops }),
    deps.secrets,
  );
  const objects = inventory.attribution ? attribute(resolved, inventory.attribution) : resolved;
  const pairs = await cluster.previewApply(input.app, objects);
  if (pairs === null) return undefined;
  const diffs = pairs.flatMap((p) => diffObject(p.desired, p.live));
  if (diffs.length === 0) return undefined;
  const heal = input.heal ?? source.sync.selfHeal;
  if (heal) {
    const { objects: _ids, appliedAt: _at, ...record } = inventory;
    await cluster.apply(input.app, objects, { prune: false, force: true, inventory: record });
  }
  const detail: DriftDetected = {
    schemaVersion: 1,
    traceId: source.traceId,
    repo: source.repo,
    branch: source.branch,
    commit: inventory.commit,
    occurredAt: deps.clock.now().toISOString(),
    app: input.app,
    target: input.target,
    digest: inventory.digest,
    diffs: diffs.map((d) => ({
      object: d.object,
      path: d.path,
      desired: d.desired,
      live: d.live,
      ...(d.manager ? { manager: d.manager } : {}),
    })),
    healed: heal,
  };
  await deps.bus.publish([{ detailType: 'Drift Detected', detail }]);
  return detail;
};

/** One app's drift check: what it found (nothing when in sync), or why it could not be checked. */
export interface DriftCheckResult {
  readonly app: string;
  readonly target: string;
  readonly drift?: DriftDetected;
  readonly error?: Error;
}

/**
 * Checks every app in a cluster's inventory (or only `apps`), each on its own: one app's failure
 * is returned with the others' results and never stops them.
 */
export const checkAllDrift = async (
  deps: DriftDeps,
  cluster: ClusterClient,
  input: { target: string; apps?: readonly string[] },
): Promise<DriftCheckResult[]> => {
  const results: DriftCheckResult[] = [];
  for (const inventory of await cluster.listInventories()) {
    if (input.apps && !input.apps.includes(inventory.app)) continue;
    const app = inventory.app;
    try {
      const drift = await checkDrift(deps, cluster, { app, target: input.target });
      results.push(drift ? { app, target: input.target, drift } : { app, target: input.target });
    } catch (error) {
      results.push({
        app,
        target: input.target,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }
  return results;
};

/**
 * Drift Check Requested on an agent that serves several clusters: checks each requested target's
 * apps. A cluster that cannot be listed is one failed result, like an app that cannot be checked.
 */
export const driftCheckRequested = async (
  deps: DriftDeps & { readonly cluster: (target: string) => ClusterClient },
  request: DriftCheckRequested,
): Promise<DriftCheckResult[]> => {
  if (!request.targets) {
    throw new BadInputError(
      `Drift Check Requested from ${request.requestedBy}`,
      'names no targets, and this agent serves clusters by target name',
      'send "targets": the names in regions[].targets (the regional stack\'s schedule does)',
    );
  }
  const results: DriftCheckResult[] = [];
  for (const target of request.targets) {
    try {
      results.push(
        ...(await checkAllDrift(deps, deps.cluster(target), {
          target,
          ...(request.apps ? { apps: request.apps } : {}),
        })),
      );
    } catch (error) {
      results.push({ app: '*', target, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }
  return results;
};
