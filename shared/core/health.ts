/**
 * Health of live objects, pure: the rules `kubectl rollout status` uses for Deployments,
 * StatefulSets and DaemonSets, Job completion, and the standard `Ready`/`Available`/`Stalled`
 * conditions for everything else (Flux and kstatus-style resources). An object with no status
 * to speak of (ConfigMap, Service, RBAC) is healthy once it exists.
 */
import { SluiceError } from '../errors.ts';
import type { Clock, ClusterClient, KubeObject, LiveObject } from '../ports/index.ts';

export type HealthState = 'Healthy' | 'Progressing' | 'Failed';

export interface ObjectHealth {
  /** `Kind/namespace/name` (`Kind/name` for cluster-scoped objects). */
  readonly object: string;
  readonly state: HealthState;
  readonly message: string;
}

export const objectId = (o: Pick<KubeObject, 'kind' | 'metadata'>): string =>
  o.metadata.namespace
    ? `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`
    : `${o.kind}/${o.metadata.name}`;

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

const num = (value: unknown, fallback = 0): number => (typeof value === 'number' ? value : fallback);
const rec = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
const conditions = (status: Record<string, unknown>): Condition[] =>
  Array.isArray(status.conditions) ? (status.conditions as Condition[]) : [];
const condition = (status: Record<string, unknown>, type: string): Condition | undefined =>
  conditions(status).find((c) => c.type === type);

const healthy = (message = 'ready'): Omit<ObjectHealth, 'object'> => ({ state: 'Healthy', message });
const progressing = (message: string): Omit<ObjectHealth, 'object'> => ({ state: 'Progressing', message });
const failed = (message: string): Omit<ObjectHealth, 'object'> => ({ state: 'Failed', message });

/** The controller has not looked at the newest spec yet. */
const notObserved = (live: LiveObject, status: Record<string, unknown>): boolean =>
  typeof live.metadata.generation === 'number' &&
  num(status.observedGeneration, 0) < live.metadata.generation;

const deployment = (live: LiveObject, status: Record<string, unknown>) => {
  if (notObserved(live, status)) return progressing('waiting for the deployment spec update to be observed');
  const progress = condition(status, 'Progressing');
  if (progress?.reason === 'ProgressDeadlineExceeded') {
    return failed(`exceeded its progress deadline${progress.message ? `: ${progress.message}` : ''}`);
  }
  const wanted = num(rec(live.spec).replicas, 1);
  const updated = num(status.updatedReplicas);
  const replicas = num(status.replicas);
  const available = num(status.availableReplicas);
  if (updated < wanted) return progressing(`${updated} of ${wanted} updated replicas`);
  if (replicas > updated) return progressing(`${replicas - updated} old replicas are pending termination`);
  if (available < updated) return progressing(`${available} of ${updated} updated replicas are available`);
  return healthy(`${available} of ${wanted} replicas available`);
};

const statefulSet = (live: LiveObject, status: Record<string, unknown>) => {
  const spec = rec(live.spec);
  const strategy = rec(spec.updateStrategy);
  if (strategy.type === 'OnDelete') return healthy('OnDelete update strategy: rollout is not tracked');
  if (num(status.observedGeneration) === 0 || notObserved(live, status)) {
    return progressing('waiting for the statefulset spec update to be observed');
  }
  const wanted = num(spec.replicas, 1);
  const ready = num(status.readyReplicas);
  if (ready < wanted) return progressing(`${ready} of ${wanted} pods are ready`);
  const partition = num(rec(strategy.rollingUpdate).partition);
  if (partition > 0) {
    const updated = num(status.updatedReplicas);
    if (updated < wanted - partition) {
      return progressing(`${updated} of ${wanted - partition} pods updated (partition ${partition})`);
    }
    return healthy(`partitioned rollout: ${updated} new pods updated`);
  }
  if (status.updateRevision !== status.currentRevision) {
    return progressing(
      `${num(status.updatedReplicas)} of ${wanted} pods on revision ${String(status.updateRevision)}`,
    );
  }
  return healthy(`${ready} of ${wanted} pods ready`);
};

const daemonSet = (live: LiveObject, status: Record<string, unknown>) => {
  if (rec(rec(live.spec).updateStrategy).type === 'OnDelete') {
    return healthy('OnDelete update strategy: rollout is not tracked');
  }
  if (notObserved(live, status)) return progressing('waiting for the daemon set spec update to be observed');
  const desired = num(status.desiredNumberScheduled);
  const updated = num(status.updatedNumberScheduled);
  const available = num(status.numberAvailable);
  if (updated < desired) return progressing(`${updated} of ${desired} updated pods are scheduled`);
  if (available < desired) return progressing(`${available} of ${desired} updated pods are available`);
  return healthy(`${available} of ${desired} pods available`);
};

const job = (status: Record<string, unknown>) => {
  const done = condition(status, 'Complete');
  if (done?.status === 'True') return healthy('completed');
  const bad = condition(status, 'Failed');
  if (bad?.status === 'True') return failed(`failed: ${bad.reason ?? ''} ${bad.message ?? ''}`.trim());
  return progressing(`${num(status.active)} active, ${num(status.succeeded)} succeeded`);
};

const generic = (live: LiveObject, status: Record<string, unknown>) => {
  const stalled = condition(status, 'Stalled');
  if (stalled?.status === 'True')
    return failed(`stalled: ${stalled.reason ?? ''} ${stalled.message ?? ''}`.trim());
  if (notObserved(live, status) && 'observedGeneration' in status) {
    return progressing('waiting for the controller to observe the newest spec');
  }
  const ready = condition(status, 'Ready') ?? condition(status, 'Available');
  if (ready) {
    if (ready.status === 'True') return healthy(`${ready.type} is True`);
    return progressing(
      `${ready.type} is ${ready.status ?? 'Unknown'}${ready.reason ? ` (${ready.reason})` : ''}`,
    );
  }
  return healthy('exists');
};

/** Health of one object; `live` undefined means it is not in the cluster (yet). */
export const assessHealth = (desired: KubeObject, live: LiveObject | undefined): ObjectHealth => {
  const object = objectId(desired);
  if (!live) return { object, state: 'Progressing', message: 'not found in the cluster' };
  const status = rec(live.status);
  const verdict = (() => {
    switch (`${live.apiVersion.split('/')[0]}/${live.kind}`) {
      case 'apps/Deployment':
        return deployment(live, status);
      case 'apps/StatefulSet':
        return statefulSet(live, status);
      case 'apps/DaemonSet':
        return daemonSet(live, status);
      case 'batch/Job':
        return job(status);
      default:
        return generic(live, status);
    }
  })();
  return { object, ...verdict };
};

export interface AppHealth {
  readonly state: HealthState;
  /** The objects that are not healthy, with why. */
  readonly atFault: ObjectHealth[];
}

/** Failed if any object failed, Progressing while any is progressing, else Healthy. */
export const summarizeHealth = (objects: readonly ObjectHealth[]): AppHealth => {
  const bad = objects.filter((o) => o.state === 'Failed');
  if (bad.length > 0) return { state: 'Failed', atFault: bad };
  const waiting = objects.filter((o) => o.state === 'Progressing');
  return waiting.length > 0 ? { state: 'Progressing', atFault: waiting } : { state: 'Healthy', atFault: [] };
};

/** `Deployment/web/api: 0 of 2 updated replicas; Job/web/migrate: failed: BackoffLimitExceeded` */
export const describeAtFault = (atFault: readonly ObjectHealth[]): string =>
  atFault.map((o) => `${o.object}: ${o.message}`).join('; ');

/** Per-app deadline override: the largest value of this annotation on any of the app's objects. */
export const HEALTH_DEADLINE_ANNOTATION = 'sluice.dev/health-deadline-seconds';
export const DEFAULT_HEALTH_DEADLINE_MS = 5 * 60_000;

export const healthDeadlineMs = (
  objects: readonly KubeObject[],
  fallbackMs = DEFAULT_HEALTH_DEADLINE_MS,
): number => {
  const values = objects
    .map((o) => Number(o.metadata.annotations?.[HEALTH_DEADLINE_ANNOTATION]))
    .filter((n) => Number.isFinite(n) && n > 0);
  return values.length > 0 ? Math.max(...values) * 1000 : fallbackMs;
};

export interface HealthWaitDeps {
  readonly clock: Clock;
  readonly sleep: (ms: number) => Promise<void>;
}

/**
 * One look at an app's live state: Healthy (also a target with no live state, a directory),
 * Progressing with the objects still waiting, or HEALTH_FAILED thrown when one failed.
 */
export const probeHealth = async (
  cluster: ClusterClient,
  objects: readonly KubeObject[],
): Promise<AppHealth> => {
  const live = await cluster.readLive(objects);
  if (live === null) return { state: 'Healthy', atFault: [] };
  const health = summarizeHealth(objects.map((o, i) => assessHealth(o, live[i])));
  if (health.state === 'Failed') {
    throw new SluiceError('HEALTH_FAILED', `unhealthy: ${describeAtFault(health.atFault)}`, {
      data: { objects: health.atFault.map((o) => o.object), health: health.atFault },
    });
  }
  return health;
};

/** HEALTH_DEADLINE: the app did not become healthy in time, naming the objects at fault. */
export const healthDeadlineError = (deadlineMs: number, atFault: readonly ObjectHealth[]): SluiceError =>
  new SluiceError(
    'HEALTH_DEADLINE',
    `not healthy after ${Math.round(deadlineMs / 1000)} s: ${describeAtFault(atFault)}. Fix: find why these objects do not become ready, or raise the deadline with annotation ${HEALTH_DEADLINE_ANNOTATION}`,
    { data: { objects: atFault.map((o) => o.object), health: atFault } },
  );

/**
 * Polls the cluster until every object is healthy; throws HEALTH_FAILED when one fails or
 * HEALTH_DEADLINE when the deadline passes, naming the objects at fault and why. A target with
 * no live state (a directory) is healthy at once.
 */
export const waitForHealth = async (
  deps: HealthWaitDeps,
  cluster: ClusterClient,
  objects: readonly KubeObject[],
  /** `since`: when the deadline's clock started (default now), so waves share one deadline. */
  options: { deadlineMs: number; pollMs?: number; since?: number },
): Promise<void> => {
  const started = options.since ?? deps.clock.now().getTime();
  const poll = options.pollMs ?? 2000;
  for (;;) {
    const health = await probeHealth(cluster, objects);
    if (health.state === 'Healthy') return;
    const elapsed = deps.clock.now().getTime() - started;
    if (elapsed >= options.deadlineMs) throw healthDeadlineError(options.deadlineMs, health.atFault);
    await deps.sleep(Math.min(poll, options.deadlineMs - elapsed));
  }
};
