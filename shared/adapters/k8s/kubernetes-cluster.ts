/**
 * A real cluster as a ClusterClient: server-side apply with field manager `sluice`, ownership
 * labels, an in-cluster inventory (one ConfigMap per app in `sluice-system`), guarded prune.
 * The policies are written up in docs/agent.md.
 */
import { withoutAttribution } from '../../core/attribution.ts';
import { canonicalJson } from '../../core/bundle.ts';
import { applyStage } from '../../core/render/hooks.ts';
import { SluiceError } from '../../errors.ts';
import type {
  ApplyOptions,
  ApplyResult,
  ClusterClient,
  Inventory,
  KubeObject,
  LiveObject,
} from '../../ports/index.ts';
import { Discovery } from './discovery.ts';
import { type KubeHttp, type KubeResponse, messageOf } from './kube-http.ts';

export const FIELD_MANAGER = 'sluice';
export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const APP_LABEL = 'sluice.dev/app';
export const WAVE_ANNOTATION = 'sluice.dev/wave';
export const FORCE_ANNOTATION = 'sluice.dev/force-conflicts';
export const INVENTORY_NAMESPACE = 'sluice-system';
const INVENTORY_LABEL = 'sluice.dev/inventory';
const APPLY_PATCH = 'application/apply-patch+yaml';

export interface KubernetesClusterOptions {
  /** Largest share of an app's objects one delivery may prune (default 0.5); more stops with PRUNE_LIMIT. */
  readonly maxPruneShare?: number;
  /** How long to wait for an applied CRD to be Established (default 30 s). */
  readonly crdTimeoutMs?: number;
}

/** `apps/v1/Deployment/web/api`; cluster-scoped objects use `_cluster` as namespace. */
const idOf = (o: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string =>
  `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? '_cluster'}/${o.metadata.name}`;

const parseId = (id: string): KubeObject => {
  const parts = id.split('/');
  const name = parts.pop() ?? '';
  const ns = parts.pop() ?? '_cluster';
  const kind = parts.pop() ?? '';
  return {
    apiVersion: parts.join('/'),
    kind,
    metadata: { name, ...(ns === '_cluster' ? {} : { namespace: ns }) },
  };
};

/** `Deployment/web/api`, the form events and messages use. */
const show = (o: Pick<KubeObject, 'kind' | 'metadata'>): string =>
  o.metadata.namespace
    ? `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`
    : `${o.kind}/${o.metadata.name}`;

/** Apply order inside a wave: what others depend on first (as Helm and Argo CD order kinds). */
const KIND_ORDER = [
  'CustomResourceDefinition',
  'Namespace',
  'ResourceQuota',
  'LimitRange',
  'PriorityClass',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'Service',
  'DaemonSet',
  'Deployment',
  'StatefulSet',
  'Job',
  'CronJob',
  'Ingress',
];
const kindRank = (kind: string) => {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
};

const waveOf = (o: KubeObject): number => {
  const raw = o.metadata.annotations?.[WAVE_ANNOTATION];
  if (raw === undefined) return 0;
  const wave = Number(raw);
  if (!Number.isInteger(wave)) {
    throw new SluiceError(
      'BAD_WAVE',
      `${show(o)}: annotation ${WAVE_ANNOTATION} is "${raw}", not an integer. Fix: use a whole number such as "-1" or "2"`,
      { data: { object: show(o), value: raw } },
    );
  }
  return wave;
};

/** 0 CRDs, 1 Namespaces, 2 pre hooks, 3 the app's objects, 4 post hooks. */
const phaseOf = (o: KubeObject) =>
  o.kind === 'CustomResourceDefinition' ? 0 : o.kind === 'Namespace' ? 1 : 1 + applyStage(o, 2)[0];
const hookWaveOf = (o: KubeObject) =>
  o.metadata.annotations?.[WAVE_ANNOTATION] === undefined ? applyStage(o, 2)[1] : waveOf(o);

/**
 * CRDs and Namespaces first; then Helm/Argo CD pre hooks, the app's objects and post hooks
 * (docs/rendering.md#hooks-and-ordering), each by wave (sluice.dev/wave, else the hook weight or
 * Argo CD sync-wave), then kinds in dependency order.
 */
export const applyOrder = (objects: readonly KubeObject[]): KubeObject[] =>
  [...objects]
    .map((o, i) => ({ o, i, phase: phaseOf(o), wave: phaseOf(o) < 2 ? 0 : hookWaveOf(o) }))
    .sort(
      (a, b) => a.phase - b.phase || a.wave - b.wave || kindRank(a.o.kind) - kindRank(b.o.kind) || a.i - b.i,
    )
    .map((x) => x.o);

/** Every string value of a Secret, to scrub from server messages that might echo it. */
const secretValues = (o: KubeObject): string[] => {
  if (o.kind !== 'Secret') return [];
  const values = [o.stringData, o.data].flatMap((m) =>
    typeof m === 'object' && m !== null ? Object.values(m as Record<string, unknown>) : [],
  );
  return values.filter((v): v is string => typeof v === 'string' && v.length >= 4);
};

const scrub = (message: string, object: KubeObject): string =>
  secretValues(object).reduce((text, value) => text.split(value).join('(redacted)'), message);

/** The object without the attribution and the bookkeeping every write changes (resourceVersion, managedFields). */
const content = (o: LiveObject): string => {
  const { resourceVersion: _v, managedFields: _m, ...metadata } = withoutAttribution(o).metadata;
  return canonicalJson({ ...o, metadata });
};

/** Whether an apply changed nothing but the attribution annotations (a new release's stamp). */
const restamped = (live: LiveObject, result: LiveObject): boolean => content(live) === content(result);

interface Cause {
  field?: string;
  message?: string;
  reason?: string;
}

export class KubernetesCluster implements ClusterClient {
  readonly #http: KubeHttp;
  readonly #discovery: Discovery;
  readonly #maxPruneShare: number;
  readonly #crdTimeoutMs: number;

  constructor(http: KubeHttp, options: KubernetesClusterOptions = {}) {
    this.#http = http;
    this.#discovery = new Discovery(http);
    this.#maxPruneShare = options.maxPruneShare ?? 0.5;
    this.#crdTimeoutMs = options.crdTimeoutMs ?? 30_000;
  }

  // ---- inventory -------------------------------------------------------------------------

  #inventoryPath(app?: string): string {
    return `/api/v1/namespaces/${INVENTORY_NAMESPACE}/configmaps${app ? `/sluice-inventory-${app}` : ''}`;
  }

  async #readInventoryMap(app: string): Promise<{ inventory?: Inventory; pending: string[] }> {
    const res = await this.#http.send('GET', this.#inventoryPath(app));
    if (res.status === 404) return { pending: [] };
    this.#check(res, `read the inventory of app "${app}"`, undefined);
    const data = (res.body.data ?? {}) as Record<string, string>;
    return {
      ...(data.inventory ? { inventory: JSON.parse(data.inventory) as Inventory } : {}),
      pending: data.pending ? (JSON.parse(data.pending) as string[]) : [],
    };
  }

  async readInventory(app: string): Promise<Inventory | undefined> {
    return (await this.#readInventoryMap(app)).inventory;
  }

  async listInventories(): Promise<Inventory[]> {
    const res = await this.#http.send(
      'GET',
      `${this.#inventoryPath()}?labelSelector=${INVENTORY_LABEL}%3Dtrue`,
    );
    if (res.status === 404) return [];
    this.#check(res, 'list the inventories', undefined);
    const items = (res.body.items ?? []) as { data?: Record<string, string> }[];
    return items.flatMap((i) => (i.data?.inventory ? [JSON.parse(i.data.inventory) as Inventory] : []));
  }

  async #writeInventory(app: string, data: Record<string, string>): Promise<void> {
    const namespace = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: INVENTORY_NAMESPACE, labels: { [MANAGED_BY]: 'sluice' } },
    };
    const configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `sluice-inventory-${app}`,
        namespace: INVENTORY_NAMESPACE,
        labels: { [MANAGED_BY]: 'sluice', [INVENTORY_LABEL]: 'true', [APP_LABEL]: app },
      },
      data,
    };
    const existing = await this.#http.send('GET', this.#inventoryPath(app));
    if (existing.status === 404) await this.#serverSideApply(namespace, { force: false, dryRun: false });
    await this.#serverSideApply(configMap, { force: true, dryRun: false });
  }

  // ---- apply -----------------------------------------------------------------------------

  #check(res: KubeResponse, what: string, object: KubeObject | undefined): void {
    if (res.status >= 200 && res.status < 300) return;
    const target = object ? show(object) : what;
    const message = object ? scrub(messageOf(res), object) : messageOf(res);
    if (res.status === 401) {
      // Retryable: a rotated credential is picked up on a later attempt (SecretKubeconfigCluster's TTL).
      throw new SluiceError(
        'CLUSTER_UNAUTHORIZED',
        `${target}: the API server rejected the agent's credentials (${message}). Fix: store a valid kubeconfig (Secrets Manager sluice/clusters/<target>, or --kubeconfig)`,
        { data: { object: target, status: res.status }, retryable: true },
      );
    }
    if (res.status === 403) {
      throw new SluiceError(
        'CLUSTER_FORBIDDEN',
        `${target}: the agent may not ${what} (${message}). Fix: grant the agent's ServiceAccount this permission (deploy/agent/rbac.yaml) or check its credentials`,
        { data: { object: target, status: res.status } },
      );
    }
    throw new SluiceError('APPLY_REJECTED', `${target}: the API server refused to ${what}: ${message}`, {
      data: { object: target, status: res.status },
    });
  }

  async #serverSideApply(
    object: KubeObject,
    options: { force: boolean; dryRun: boolean },
  ): Promise<LiveObject> {
    const path = await this.#discovery.path(object);
    const query = `?fieldManager=${FIELD_MANAGER}&force=${options.force}${options.dryRun ? '&dryRun=All' : ''}`;
    // JSON is YAML: the manifest goes out exactly as rendered, plus the ownership labels.
    const res = await this.#http.send('PATCH', `${path}${query}`, JSON.stringify(object), APPLY_PATCH);
    if (res.status === 409) {
      const causes = (((res.body.details ?? {}) as { causes?: Cause[] }).causes ?? []).filter(
        (c) => c.reason === 'FieldManagerConflict',
      );
      const conflicts = causes.map((c) => ({
        field: c.field ?? '?',
        manager: /conflict with "([^"]+)"/.exec(c.message ?? '')?.[1] ?? 'another manager',
      }));
      const listed = conflicts.map((c) => `${c.field} (owned by "${c.manager}")`).join(', ');
      throw new SluiceError(
        'APPLY_CONFLICT',
        `${show(object)}: server-side apply conflicts with other field managers on ${listed || messageOf(res)}. Fix: undo the out-of-band change, drop the field from the manifest, or take it over with annotation ${FORCE_ANNOTATION}: "true" (or sync.selfHeal)`,
        { data: { object: show(object), conflicts } },
      );
    }
    this.#check(res, options.dryRun ? 'dry-run apply it' : 'apply it', object);
    return res.body as unknown as LiveObject;
  }

  async #get(object: KubeObject): Promise<LiveObject | undefined> {
    const res = await this.#http.send('GET', await this.#discovery.path(object));
    if (res.status === 404) return undefined;
    this.#check(res, 'read it', object);
    return res.body as unknown as LiveObject;
  }

  /** Sets the default namespace where the kind is namespaced and none is given. */
  async #normalize(object: KubeObject): Promise<KubeObject> {
    if (object.kind === 'CustomResourceDefinition' || object.kind === 'Namespace') return object;
    const info = await this.#discovery.resource(object.apiVersion, object.kind);
    if (!info.namespaced || object.metadata.namespace) return object;
    return { ...object, metadata: { ...object.metadata, namespace: 'default' } };
  }

  async #waitEstablished(crd: KubeObject): Promise<void> {
    const deadline = Date.now() + this.#crdTimeoutMs;
    while (Date.now() < deadline) {
      const live = await this.#get(crd);
      const conditions = ((live?.status?.conditions ?? []) as { type?: string; status?: string }[]) ?? [];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) {
        const spec = crd.spec as { group?: string; versions?: { name: string }[] } | undefined;
        for (const v of spec?.versions ?? []) this.#discovery.forget(`${spec?.group}/${v.name}`);
        return;
      }
      await new Promise((ok) => setTimeout(ok, 250));
    }
    throw new SluiceError(
      'CRD_NOT_ESTABLISHED',
      `${show(crd)} was applied but not Established within ${this.#crdTimeoutMs / 1000} s. Fix: check the CRD's status conditions`,
      { data: { object: show(crd) }, retryable: true },
    );
  }

  async apply(app: string, objects: readonly KubeObject[], options: ApplyOptions): Promise<ApplyResult> {
    const { inventory: previous, pending: stillPending } = await this.#readInventoryMap(app);
    const ordered = applyOrder(objects);
    const previousIds = new Set([...(previous?.objects ?? []), ...stillPending]);

    const normalized: KubeObject[] = [];
    for (const object of ordered) {
      const owned = {
        ...object,
        metadata: {
          ...object.metadata,
          labels: { ...object.metadata.labels, [MANAGED_BY]: 'sluice', [APP_LABEL]: app },
        },
      };
      // A kind defined by a CRD in this same bundle is not served yet: it is looked up again after the CRD.
      normalized.push(await this.#normalize(owned).catch(() => owned));
    }
    const currentIds = new Set(normalized.map(idOf));

    // The prune guard runs before anything changes: a delivery that would delete too much applies nothing.
    const candidates =
      options.prune || options.remove ? [...previousIds].filter((id) => !currentIds.has(id)) : [];
    const base = previous?.objects.length ?? 0;
    if (!options.remove && base > 0 && candidates.length / base > this.#maxPruneShare) {
      throw new SluiceError(
        'PRUNE_LIMIT',
        `app "${app}": this delivery would prune ${candidates.length} of its ${base} objects (${Math.round((candidates.length / base) * 100)}%), more than the ${Math.round(this.#maxPruneShare * 100)}% allowed; nothing was applied. Fix: if the removal is intended, raise the agent's --max-prune-share for this delivery, or deliver it with sync.prune: false and delete the objects by hand`,
        { data: { app, prune: candidates.map((id) => show(parseId(id))), total: base } },
      );
    }

    // Record what may exist before creating it, so a crash mid-apply never orphans an object.
    await this.#writeInventory(app, {
      ...(previous ? { inventory: JSON.stringify(previous) } : {}),
      pending: JSON.stringify([...new Set([...previousIds, ...currentIds])].sort()),
    });

    const current: string[] = [];
    let applied = 0;
    let unchanged = 0;
    let wave: { key: string; objects: KubeObject[] } | undefined;
    for (let object of normalized) {
      // Objects of a later wave wait until the previous wave is healthy (the caller's afterWave);
      // a hook phase (pre hooks, the app, post hooks) is a wave boundary too.
      const key =
        object.kind === 'CustomResourceDefinition' || object.kind === 'Namespace'
          ? undefined
          : `${phaseOf(object)}/${hookWaveOf(object)}`;
      if (key !== undefined && wave && wave.key !== key) await options.afterWave?.(wave.objects);
      if (key !== undefined && wave?.key !== key) wave = { key, objects: [] };
      object = await this.#normalize(object);
      wave?.objects.push(object);
      const live = await this.#get(object);
      const liveOwner = live?.metadata.labels?.[APP_LABEL];
      if (live && liveOwner && liveOwner !== app) {
        throw new SluiceError(
          'OWNERSHIP_CONFLICT',
          `${show(object)} belongs to app "${liveOwner}", not "${app}". Fix: remove it from one of the two apps`,
          { data: { object: show(object), owner: liveOwner, app } },
        );
      }
      const force = options.force === true || object.metadata.annotations?.[FORCE_ANNOTATION] === 'true';
      const result = await this.#serverSideApply(object, { force, dryRun: false });
      if (
        live &&
        (live.metadata.resourceVersion === result.metadata.resourceVersion || restamped(live, result))
      ) {
        unchanged += 1;
      } else applied += 1;
      current.push(idOf(object));
      if (object.kind === 'CustomResourceDefinition') await this.#waitEstablished(object);
    }

    let pruned = 0;
    const currentSet = new Set(current);
    if (options.prune || options.remove) {
      // Reverse apply order: workloads before their ConfigMaps, Namespaces and CRDs last.
      const gone = applyOrder([...previousIds].filter((i) => !currentSet.has(i)).map(parseId)).reverse();
      for (const ref of gone) {
        if (await this.#prune(app, ref)) pruned += 1;
      }
    }
    const kept =
      options.prune || options.remove ? current : [...new Set([...(previous?.objects ?? []), ...current])];
    const inventory: Inventory = {
      ...options.inventory,
      objects: kept.sort(),
      appliedAt: new Date().toISOString(),
    };
    await this.#writeInventory(app, { inventory: JSON.stringify(inventory), pending: '[]' });
    return { applied, unchanged, pruned };
  }

  /** Deletes an object only when it carries this app's ownership labels; anything else is left alone. */
  async #prune(app: string, ref: KubeObject): Promise<boolean> {
    let live: LiveObject | undefined;
    try {
      live = await this.#get(ref);
    } catch (error) {
      // A kind that is gone (its CRD was removed) has nothing left to prune.
      if ((error as SluiceError).code === 'UNKNOWN_KIND') return false;
      throw error;
    }
    const labels = live?.metadata.labels ?? {};
    if (!live || labels[MANAGED_BY] !== 'sluice' || labels[APP_LABEL] !== app) return false;
    const path = await this.#discovery.path(ref);
    const res = await this.#http.send(
      'DELETE',
      path,
      JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' }),
    );
    if (res.status === 404) return false;
    this.#check(res, 'delete it (prune)', ref);
    return true;
  }

  // ---- observe ---------------------------------------------------------------------------

  async readLive(objects: readonly KubeObject[]): Promise<(LiveObject | undefined)[]> {
    const out: (LiveObject | undefined)[] = [];
    for (const object of objects) out.push(await this.#get(await this.#normalize(object)));
    return out;
  }

  async previewApply(
    app: string,
    objects: readonly KubeObject[],
  ): Promise<{ live: LiveObject | undefined; desired: LiveObject }[]> {
    const out: { live: LiveObject | undefined; desired: LiveObject }[] = [];
    for (const raw of objects) {
      const object = await this.#normalize({
        ...raw,
        metadata: {
          ...raw.metadata,
          labels: { ...raw.metadata.labels, [MANAGED_BY]: 'sluice', [APP_LABEL]: app },
        },
      });
      const live = await this.#get(object);
      const desired = await this.#serverSideApply(object, { force: true, dryRun: true });
      out.push({ live, desired });
    }
    return out;
  }
}
