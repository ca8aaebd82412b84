import { isSluiceError, SluiceError } from '../errors.ts';
import type {
  BundleStore,
  BundleVerifier,
  Clock,
  ClusterClient,
  EventBus,
  HealthRecheck,
  HealthRechecks,
  KmsDecrypter,
  KubeObject,
  SecretStore,
} from '../ports/index.ts';
import type { ApplyRequested, OutboundEvent, TargetRef } from '../schemas/events.ts';
import { attribute, attributionFor } from './attribution.ts';
import { decodeBundle } from './bundle.ts';
import {
  DEFAULT_HEALTH_DEADLINE_MS,
  healthDeadlineError,
  healthDeadlineMs,
  probeHealth,
  waitForHealth,
} from './health.ts';
import { decryptSopsObjects } from './sops.ts';

export interface AgentDeps {
  readonly bundles: BundleStore;
  /** The target's cluster; `ref` says how to reach it when the host serves several kinds (`sluice dev`). */
  readonly cluster: (target: string, ref?: TargetRef) => ClusterClient;
  readonly secrets: SecretStore;
  readonly bus: EventBus;
  readonly clock: Clock;
  /** Waits between health polls (default setTimeout). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** How long an app may take to become healthy unless its objects say otherwise (default 5 min). */
  readonly healthDeadlineMs?: number;
  readonly healthPollMs?: number;
  /**
   * Runs `fn` alone for `key` (target + app): two deliveries for one app on one target must not
   * both read the inventory before either writes it, or an older generation could land last.
   * A host that runs one agent per target gets this from a FIFO queue grouped by target instead.
   */
  readonly exclusive?: <T>(key: string, fn: () => Promise<T>) => Promise<T>;
  /** When set, a bundle without a valid signature from a trusted key is refused before anything else. */
  readonly verifier?: BundleVerifier;
  /** SOPS-encrypted manifests: where the age identities are (default `sluice/sops-age-key`) and the KMS port. */
  readonly sops?: { readonly ageKeyRef?: string; readonly kms?: KmsDecrypter };
  /**
   * When set, the agent applies, looks at health once and leaves: a rollout still progressing is
   * looked at again later (recheckHealth), so a Lambda agent is not billed for the wait. Without
   * it the agent waits in process (`sluice dev`, `sluice agent`).
   */
  readonly rechecks?: HealthRechecks;
}

/** Waits between re-checks: 5 s, 10 s, 20 s, 40 s, then every 60 s, never past the deadline. */
export const recheckDelayMs = (attempt: number): number => Math.min(5000 * 2 ** (attempt - 1), 60_000);

const SECRET_REF = /^(aws-sm|vault):\/\/[^#\s]+(#\S+)?$/;

/**
 * Resolves secret references in Secrets' stringData at apply time. The values exist only in the
 * objects handed to the cluster: never in the bundle, an event or a log line.
 */
export const resolveSecretRefs = async (
  objects: readonly KubeObject[],
  secrets: SecretStore,
): Promise<KubeObject[]> =>
  Promise.all(
    objects.map(async (object) => {
      const stringData = object.stringData as Record<string, unknown> | undefined;
      if (object.kind !== 'Secret' || !stringData) return object;
      const resolved: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(stringData)) {
        if (typeof value === 'string' && SECRET_REF.test(value)) {
          try {
            resolved[key] = await secrets.get(value);
          } catch (error) {
            throw new SluiceError(
              'SECRET_UNRESOLVED',
              `Secret ${object.metadata.namespace ?? ''}/${object.metadata.name} key "${key}": reference ${value} could not be resolved`,
              { data: { ref: value }, cause: error, retryable: isSluiceError(error) && error.retryable },
            );
          }
        } else resolved[key] = value;
      }
      return { ...object, stringData: resolved };
    }),
  );

/** The fields every agent outcome about one request carries (`digest`: what the request names). */
export const outcomeOf = (
  request: Pick<ApplyRequested, 'traceId' | 'repo' | 'branch' | 'commit' | 'generation' | 'app' | 'target'>,
  digest: string,
) => ({
  schemaVersion: 1 as const,
  traceId: request.traceId,
  repo: request.repo,
  branch: request.branch,
  commit: request.commit,
  generation: request.generation,
  app: request.app,
  target: request.target.name,
  digest,
});

/**
 * The regional agent's one use case: apply a bundle to a target. Stale work (an older generation
 * than the one applied) is refused; the same generation again re-reports without re-applying.
 */
export function applyRequested(
  deps: AgentDeps & { readonly rechecks?: undefined },
  request: ApplyRequested,
): Promise<OutboundEvent>;
export function applyRequested(deps: AgentDeps, request: ApplyRequested): Promise<OutboundEvent | undefined>;
export function applyRequested(deps: AgentDeps, request: ApplyRequested): Promise<OutboundEvent | undefined> {
  return deps.exclusive
    ? deps.exclusive(`${request.target.name}/${request.app}`, () => applyExclusively(deps, request))
    : applyExclusively(deps, request);
}

/** The outcome fields of a request, a rollback's included, and how to publish one. */
const reporter = (deps: Pick<AgentDeps, 'bus' | 'clock'>, request: ApplyRequested) => {
  const outcome = {
    ...outcomeOf(request, request.bundle.digest),
    ...(request.rollbackOf ? { rollbackOf: request.rollbackOf } : {}),
  };
  const at = () => deps.clock.now().toISOString();
  const publish = async (event: OutboundEvent) => {
    await deps.bus.publish([event]);
    return event;
  };
  const failed = (error: SluiceError) =>
    publish({
      detailType: 'Deployment Failed',
      detail: {
        ...outcome,
        occurredAt: at(),
        reason: error.code,
        message: error.message,
        objects: Array.isArray(error.data.objects)
          ? error.data.objects.map(String)
          : typeof error.data.object === 'string'
            ? [error.data.object]
            : [],
      },
    });
  const succeeded = (check: Pick<HealthRecheck, 'since' | 'result' | 'bundleKey'>) =>
    publish({
      detailType: 'Deployment Succeeded',
      detail: {
        ...outcome,
        occurredAt: at(),
        ...check.result,
        durationMs: deps.clock.now().getTime() - check.since,
        // Attribution: the key this agent checked the bundle's signature against.
        ...(check.bundleKey ? { bundleKey: check.bundleKey } : {}),
      },
    });
  return { outcome, at, publish, failed, succeeded };
};

/** Asks for the next look at an app's health, at the backoff's delay or the deadline if sooner. */
const scheduleRecheck = async (deps: AgentDeps & { rechecks: HealthRechecks }, check: HealthRecheck) => {
  const due = Math.min(
    deps.clock.now().getTime() + recheckDelayMs(check.attempt),
    check.since + check.deadlineMs,
  );
  await deps.rechecks.schedule(check, new Date(due));
};

/**
 * A scheduled look at the health of an app the agent applied and left. Says nothing when the app
 * on the target is no longer that release (a newer one, or a removal, reports for itself);
 * otherwise Deployment Succeeded once healthy, Deployment Failed when an object failed or the
 * deadline passed, else another re-check later — also when the cluster did not answer.
 */
export const recheckHealth = async (
  deps: AgentDeps & { rechecks: HealthRechecks },
  check: HealthRecheck,
): Promise<OutboundEvent | undefined> => {
  const { request } = check;
  const cluster = deps.cluster(request.target.name, request.target);
  const { failed, succeeded } = reporter(deps, request);
  const overdue = () => deps.clock.now().getTime() - check.since >= check.deadlineMs;
  try {
    const inventory = await cluster.readInventory(request.app);
    if (inventory?.generation !== request.generation || inventory.digest !== request.bundle.digest) {
      return undefined;
    }
    const objects = decodeBundle(await deps.bundles.get(request.bundle)).objects.map((o) => o.object);
    const health = await probeHealth(cluster, objects);
    if (health.state === 'Healthy') return await succeeded(check);
    if (overdue()) throw healthDeadlineError(check.deadlineMs, health.atFault);
    await scheduleRecheck(deps, { ...check, attempt: check.attempt + 1 });
    return undefined;
  } catch (error) {
    if (!isSluiceError(error)) throw error;
    if (!error.retryable) return failed(error);
    // The cluster did not answer this time: look again at the next step rather than after the
    // queue's visibility timeout, and once the deadline passed say so with why.
    if (!overdue()) {
      await scheduleRecheck(deps, { ...check, attempt: check.attempt + 1 });
      return undefined;
    }
    return failed(
      new SluiceError(
        'HEALTH_DEADLINE',
        `health could not be read before the ${Math.round(check.deadlineMs / 1000)} s deadline: ${error.message}`,
        { cause: error },
      ),
    );
  }
};

const applyExclusively = async (
  deps: AgentDeps,
  request: ApplyRequested,
): Promise<OutboundEvent | undefined> => {
  const started = deps.clock.now().getTime();
  const cluster = deps.cluster(request.target.name, request.target);
  const { outcome, at, publish, failed, succeeded } = reporter(deps, request);

  if (deps.verifier) {
    const signature = request.bundle.signature;
    if (!signature || !(await deps.verifier.verify(request.bundle.digest, signature))) {
      return publish({
        detailType: 'Deployment Failed',
        detail: {
          ...outcome,
          occurredAt: at(),
          reason: 'SIGNATURE_INVALID',
          message: signature
            ? `bundle ${request.bundle.digest} carries a signature by key ${signature.keyId} that does not verify; refused before reading it`
            : `bundle ${request.bundle.digest} is unsigned and this agent requires signed bundles; refused`,
          objects: [],
        },
      });
    }
  }

  let inventory: Awaited<ReturnType<ClusterClient['readInventory']>>;
  try {
    inventory = await cluster.readInventory(request.app);
  } catch (error) {
    // A cluster the host refuses to reach (a kubeconfig context the operator did not allow) fails the app.
    if (!isSluiceError(error) || error.retryable) throw error;
    return failed(error);
  }
  // Generations are ordered per (repo, app, target): another repo's app of the same name on this
  // target is neither newer nor older, it is someone else's. Applying (and pruning) over it would
  // let one repo's push change what another repo deploys, so it is refused, loudly.
  const owner = inventory?.source?.repo;
  if (inventory && owner !== undefined && owner !== request.repo) {
    return publish({
      detailType: 'Deployment Failed',
      detail: {
        ...outcome,
        occurredAt: at(),
        reason: 'APP_OWNED_BY_OTHER_REPO',
        message: `app ${JSON.stringify(request.app)} on target ${request.target.name} is deployed from ${JSON.stringify(owner)}; the release from ${JSON.stringify(request.repo)} was refused so it cannot overwrite or prune those objects. Fix: rename the app in one of the two repos, or select a different target for it`,
        objects: [],
      },
    });
  }
  if (inventory && inventory.generation > request.generation) {
    const { rollbackOf: _ignored, ...skipped } = outcome;
    return publish({
      detailType: 'Deployment Skipped',
      detail: {
        ...skipped,
        occurredAt: at(),
        reason: 'stale',
        appliedGeneration: inventory.generation,
        message: `generation ${request.generation} (${request.commit.slice(0, 7)}) is older than the applied generation ${inventory.generation} (${inventory.commit.slice(0, 7)}); refused`,
      },
    });
  }
  // The same generation again is applied already: nothing is written, but health is still awaited,
  // so a delivery whose agent died while waiting for health reports the real outcome.
  const duplicate =
    inventory && inventory.generation === request.generation && inventory.digest === request.bundle.digest
      ? inventory
      : undefined;

  try {
    const bytes = await deps.bundles.get(request.bundle);
    const bundle = decodeBundle(bytes);
    // SOPS documents are decrypted only here, into the objects handed to the cluster.
    const rendered = duplicate
      ? bundle.objects.map((o) => o.object)
      : await decryptSopsObjects(bundle.objects, { secrets: deps.secrets, ...deps.sops });
    const objects = duplicate ? rendered : await resolveSecretRefs(rendered, deps.secrets);
    // One deadline for the whole app: each wave waits for its own health, then the app for all of it.
    const since = deps.clock.now().getTime();
    const healthy = (subset: readonly KubeObject[]) =>
      waitForHealth(
        { clock: deps.clock, sleep: deps.sleep ?? ((ms) => new Promise((ok) => setTimeout(ok, ms))) },
        cluster,
        subset,
        {
          since,
          deadlineMs: healthDeadlineMs(objects, deps.healthDeadlineMs ?? DEFAULT_HEALTH_DEADLINE_MS),
          ...(deps.healthPollMs ? { pollMs: deps.healthPollMs } : {}),
        },
      );
    // Commit, bundle digest and signer on every applied object (attribution.ts says when they change).
    const attribution = attributionFor(request, inventory);
    const result = duplicate
      ? { applied: 0, unchanged: duplicate.objects.length, pruned: 0 }
      : await cluster.apply(request.app, attribute(objects, attribution), {
          afterWave: healthy,
          prune: request.sync.prune,
          inventory: {
            app: request.app,
            generation: request.generation,
            commit: request.commit,
            digest: request.bundle.digest,
            source: {
              repo: request.repo,
              branch: request.branch,
              traceId: request.traceId,
              bundleKey: request.bundle.key,
              sync: request.sync,
            },
            attribution,
          },
        });
    // Attribution: the key this agent checked the bundle's signature against.
    const bundleKey = deps.verifier && request.bundle.signature ? request.bundle.signature.keyId : undefined;
    const applied = { since: started, result, ...(bundleKey ? { bundleKey } : {}) };
    if (!deps.rechecks) {
      await healthy(objects);
      return await succeeded(applied);
    }
    // A Lambda agent looks once and leaves; a rollout still progressing is looked at again later.
    const health = await probeHealth(cluster, objects);
    if (health.state === 'Healthy') return await succeeded(applied);
    const deadlineMs = healthDeadlineMs(objects, deps.healthDeadlineMs ?? DEFAULT_HEALTH_DEADLINE_MS);
    await scheduleRecheck(
      { ...deps, rechecks: deps.rechecks },
      { request, deadlineMs, attempt: 1, ...applied },
    );
    return undefined;
  } catch (error) {
    if (!isSluiceError(error) || error.retryable) throw error;
    return failed(error);
  }
};
