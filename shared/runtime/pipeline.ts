/**
 * The one composition root. Every host — a Lambda entry point (functions/<name>/index.ts),
 * `sluice dev` (in-process adapters), `sluice dev --aws` (AWS adapters on the emulator),
 * `sluice agent` and the tests — picks adapters and calls `createPipeline`; the handlers, the
 * route table, the error rule, the middlewares and the ingest's secret lookup are built here and
 * nowhere else, so a behaviour cannot exist in one host and not in another. Where a host must
 * differ it says so in an option (`PipelineOptions`), each covered by a test.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SqsHandler } from '../adapters/local/event-source.ts';
import { TtlCache } from '../adapters/ttl-cache.ts';
import type { AgentDeps } from '../core/agent.ts';
import { branchHeads } from '../core/branch-heads.ts';
import type { IngestDeps } from '../core/ingest.ts';
import type { TrustDeps } from '../core/provenance.ts';
import { trackedBranches } from '../core/reconcile.ts';
import type { RenderLimits } from '../core/render-limits.ts';
import type { TargetOwners } from '../core/report.ts';
import { deployBranchList, type RepoCatalog } from '../core/repos.ts';
import { repoWebhookSecrets } from '../core/webhook-registration.ts';
import type { RateLimiter } from '../core/webhooks/rate-limit.ts';
import { ConfigError } from '../errors.ts';
import type {
  AgentDispatcher,
  BundleSigner,
  BundleStore,
  BundleVerifier,
  Clock,
  ClusterClient,
  DeadLetters,
  DispatchChunkQueue,
  EventBus,
  EventRecorder,
  GitProvider,
  GitSource,
  GitWriter,
  HealthRechecks,
  History,
  IdempotencyStore,
  KubeSchemaSource,
  Ledger,
  ManifestRenderer,
  PlanIntake,
  PullRequestOpener,
  ReconcileTrigger,
  RenderCache,
  RolloutTimer,
  SecretStore,
} from '../ports/index.ts';
import { agentQueueName, planGroupId, ROLLBACK_ROUTE, ROUTES } from '../routing.ts';
import type { DetailType, TargetRef } from '../schemas/events.ts';
import { createIngestHandler } from './ingest-handler.ts';
import { pipelineMetrics } from './metrics.ts';
import { reconcileStage, recordStage } from './operate-stages.ts';
import { rolloutStage } from './rollout-stage.ts';
import { type SqsRuntime, type SqsStage, sqsHandler } from './sqs-handler.ts';
import { agentStage, dispatchStage, planStage, renderStage, reportStage, rollbackStage } from './stages.ts';

/** The queue-fed stages. */
export type StageName =
  | 'plan'
  | 'render'
  | 'dispatch'
  | 'report'
  | 'rollback'
  | 'agent'
  | 'record'
  | 'reconcile'
  | 'rollout';

/**
 * The ports a pipeline is built from. A host passes the ones its stages use (a Lambda entry point
 * builds only its own function's clients); asking for a stage whose ports are missing fails at
 * start-up, naming the port. Helpers add ports here, never in a host.
 */
export interface PipelineAdapters {
  readonly clock: Clock;
  /** The `sluice` bus (every stage but report publishes). */
  readonly bus?: EventBus;
  readonly ledger?: Ledger;
  readonly git?: GitSource;
  readonly bundles?: BundleStore;
  /** kubectl kustomize / helm template. */
  readonly renderer?: ManifestRenderer;
  /** Rendered output by content key: one render per distinct input, across invocations. */
  readonly renderCache?: RenderCache;
  /** Bounds of one app's render (docs/security.md#limits), from the host; defaults when absent. */
  readonly renderLimits?: RenderLimits;
  /** The vendored Kubernetes OpenAPI schemas (the `schema` policy layer). */
  readonly schemas?: KubeSchemaSource;
  /** Commit statuses back to the Git provider: pending at plan, failures at render, outcomes at report. */
  readonly provider?: GitProvider;
  /** Where dispatch and rollback hand work to a region's agent. */
  readonly agents?: AgentDispatcher;
  /**
   * Dispatch's own queue: a bundle for many targets is split into chunks there, one invocation
   * each (shared/core/dispatch.ts). Absent, one invocation hands over every target.
   */
  readonly dispatchChunks?: DispatchChunkQueue;
  /** Report: the account owning each target; an outcome from any other account is refused. */
  readonly owners?: TargetOwners;
  /** Signs every bundle handed to an agent (dispatch, rollback's re-dispatch). */
  readonly signer?: BundleSigner;
  /** Checks a bundle's signature on the agent before anything else. */
  readonly verifier?: BundleVerifier;
  readonly cluster?: (target: string, ref?: TargetRef) => ClusterClient;
  /** Secret references at apply time (agent); webhook secrets (ingest). */
  readonly secrets?: SecretStore;
  /** SOPS-encrypted manifests on the agent: the age key's secret reference and the KMS port. */
  readonly sops?: AgentDeps['sops'];
  /**
   * The agent looks at health once and schedules the next look here instead of waiting (a Lambda
   * agent: docs/agent.md#health-re-checks). Absent, the agent waits in process.
   */
  readonly healthRechecks?: HealthRechecks;
  /** Rollback's claims: one rollback per trigger. */
  readonly claims?: IdempotencyStore;
  readonly writer?: GitWriter;
  readonly pullRequests?: PullRequestOpener;
  /** The clone URL of a repository named in events (rollback reads sluice.yaml there). */
  readonly repoUrl?: (repo: string) => string;
  /** Where a poison message is parked at once (every queue-fed host has one). */
  readonly deadLetters?: DeadLetters;
  /** Ingest: delivery ids seen. */
  readonly deliveries?: IdempotencyStore;
  /**
   * Ingest: the secrets of a repo that has none of its own (`sluice/webhooks/<provider>/<repo>` in
   * `secrets`): the stack's shared webhook secret, or `sluice dev`'s.
   */
  readonly sharedWebhookSecrets?: (provider: string) => Promise<string[]>;
  readonly planIntake?: PlanIntake;
  readonly rateLimiter?: RateLimiter;
  readonly newTraceId?: () => string;
  /**
   * Ingest and plan: the repos and branches that may deploy (the deployment config; `sluice dev`:
   * its own repo). Ingest refuses other repos (403) and every clone URL is the configured one.
   */
  readonly repos?: RepoCatalog;
  /** Record: keeps every event (docs/operate.md). */
  readonly recorder?: EventRecorder;
  /** Reconcile: what the record says of each branch (a head planning already settled is skipped). */
  readonly history?: History;
  /** Ingest: asked for a delayed branch check when a push is throttled (429). */
  readonly reconcile?: ReconcileTrigger;
  /**
   * Plan: the trust policy and the commit-signature verifier (docs/provenance.md), from outside the
   * repo (`sluice dev --trust FILE`, the deployment config's `trust`). Absent, nothing is verified.
   */
  readonly trust?: TrustDeps;
  /**
   * Progressive delivery (docs/progressive-delivery.md): schedules a rollout's wake-ups (a bake's
   * end, a report). Absent, apps with `rollout` waves are dispatched to every target at once.
   */
  readonly rolloutTimer?: RolloutTimer;
}

export interface PipelineOptions {
  /**
   * Bundle signing: `required` (the default) — dispatch and rollback sign with `adapters.signer`
   * and the agent refuses what `adapters.verifier` does not accept; a host without them fails at
   * start-up. `off` — nothing is signed and the agent checks nothing (a test or a benchmark that
   * says so; never a deployment).
   */
  readonly signing?: 'required' | 'off';
  /** The Powertools logger every handler logs through (its level decides what a host prints). */
  readonly logger?: Logger;
  /**
   * Where each handler's EMF metrics go: stdout (CloudWatch picks them up in Lambda) by default,
   * or this sink (in-process hosts, which must not print EMF among their output).
   */
  readonly metricsSink?: (emf: Readonly<Record<string, unknown>>) => void;
  /** Agent: the default time an app has to become healthy. */
  readonly healthDeadlineMs?: number;
  readonly healthPollMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Agent: one apply at a time per target+app inside this process (hosts that run many agent
   * handlers concurrently on one queue, e.g. in process).
   */
  readonly exclusive?: AgentDeps['exclusive'];
  /** How long the ingest reuses a repo's webhook secrets (a repo on the shared secret costs no lookup per push). @default 60 s */
  readonly webhookSecretTtlMs?: number;
  /**
   * Plan: how far this host's clock may run ahead of the ingest's, when the two differ (a branch
   * listing counts for a push only if it started this long after the push was received).
   * 0 when one process ingests and plans. @default 1000
   */
  readonly ingestClockSkewMs?: number;
}

/** One queue of the route table and what consumes it. */
export interface PipelineRoute {
  readonly fn: Exclude<StageName, 'agent'>;
  /** The queue's name without a host prefix: `sluice-plan.fifo`, `sluice-render`, … */
  readonly queue: string;
  readonly fifo: boolean;
  /** The `sluice` bus detail-types its rule forwards. */
  readonly detailTypes: readonly DetailType[];
  /** Events from other sources (CloudWatch alarms on the default bus) forwarded to it. */
  readonly foreign: readonly { readonly source: string; readonly detailType: string }[];
  /** The FIFO message group of an event's detail (plan: repo+branch). */
  readonly groupId?: (detail: { repo: string; branch: string }) => string;
}

/** Every queue the management side consumes, in order: plan, render, dispatch, report, rollback. */
export const PIPELINE_ROUTES: readonly PipelineRoute[] = [
  ...ROUTES.map((route) => ({
    ...route,
    foreign: [],
    ...(route.fifo ? { groupId: planGroupId } : {}),
  })),
  {
    fn: ROLLBACK_ROUTE.fn,
    queue: ROLLBACK_ROUTE.queue,
    fifo: ROLLBACK_ROUTE.fifo,
    detailTypes: ROLLBACK_ROUTE.detailTypes,
    foreign: ROLLBACK_ROUTE.foreign,
  },
];

export { agentQueueName };

export interface Pipeline {
  readonly routes: readonly PipelineRoute[];
  /** The handler of a queue-fed stage, built on first use (once per pipeline). */
  handler(stage: StageName): SqsHandler;
  /** What the ingest core needs: the same webhook-secret lookup in every host. */
  ingestDeps(): IngestDeps;
  /** The API Gateway handler of the ingest Lambda. */
  ingestHandler(): ReturnType<typeof createIngestHandler>;
}

/** Builds every stage's handler and the route table from a set of ports. */
export const createPipeline = (adapters: PipelineAdapters, options: PipelineOptions = {}): Pipeline => {
  const signing = options.signing ?? 'required';
  // The host's logger as given (its class and level are the host's choice), else one per function.
  const loggerFor = (name: string) => options.logger ?? new Logger({ serviceName: `sluice-${name}` });

  /** The ports `stage` needs, or a start-up error naming the first one the host did not give. */
  const need = <K extends keyof PipelineAdapters>(
    stage: string,
    ...keys: K[]
  ): Required<Pick<PipelineAdapters, K>> => {
    for (const key of keys) {
      if (adapters[key] === undefined) {
        throw new ConfigError(
          'pipeline',
          `${stage}.${String(key)}`,
          `the ${stage} stage needs the ${String(key)} port and this host did not provide one`,
          `pass adapters.${String(key)} to createPipeline`,
        );
      }
    }
    return adapters as unknown as Required<Pick<PipelineAdapters, K>>;
  };
  const optional = <K extends keyof PipelineAdapters>(...keys: K[]): Partial<Pick<PipelineAdapters, K>> =>
    Object.fromEntries(keys.filter((k) => adapters[k] !== undefined).map((k) => [k, adapters[k]])) as Partial<
      Pick<PipelineAdapters, K>
    >;
  const signer = (stage: string) =>
    signing === 'off' ? {} : { signer: need(stage, 'signer').signer as BundleSigner };
  const verifier = (stage: string) =>
    signing === 'off' ? {} : { verifier: need(stage, 'verifier').verifier as BundleVerifier };

  const runtime = (stage: StageName): SqsRuntime => ({
    logger: loggerFor(stage),
    metrics: pipelineMetrics(stage, options.metricsSink) as Metrics,
    deadLetters: need(stage, 'deadLetters').deadLetters,
  });

  const build = (stage: StageName, rt: SqsRuntime): SqsStage<unknown> => {
    const { clock } = adapters;
    switch (stage) {
      case 'plan':
        return planStage(
          {
            ...need('plan', 'git', 'ledger', 'bus'),
            clock,
            heads: branchHeads(need('plan', 'git').git, clock, { skewMs: options.ingestClockSkewMs ?? 1000 }),
            ...optional('provider', 'repos', 'trust'),
          },
          rt,
        ) as SqsStage<unknown>;
      case 'render':
        return renderStage(
          {
            ...need('render', 'git', 'ledger', 'bundles', 'renderer', 'bus'),
            clock,
            ...optional('renderCache', 'renderLimits', 'schemas', 'provider'),
          },
          rt,
        ) as SqsStage<unknown>;
      case 'dispatch':
        return dispatchStage(
          {
            ...need('dispatch', 'ledger', 'agents', 'bus'),
            clock,
            ...signer('dispatch'),
            ...(adapters.rolloutTimer ? { timer: adapters.rolloutTimer } : {}),
            ...(adapters.dispatchChunks ? { chunks: adapters.dispatchChunks } : {}),
          },
          rt,
        ) as SqsStage<unknown>;
      case 'report':
        return reportStage(
          {
            ...need('report', 'ledger'),
            clock,
            ...optional('provider', 'owners'),
            ...(adapters.rolloutTimer ? { timer: adapters.rolloutTimer } : {}),
          },
          rt,
        ) as SqsStage<unknown>;
      case 'rollback':
        return rollbackStage(
          {
            ...need('rollback', 'ledger', 'git', 'bundles', 'agents', 'claims', 'repoUrl', 'bus'),
            clock,
            ...optional('writer', 'pullRequests'),
            ...signer('rollback'),
          },
          rt,
        ) as SqsStage<unknown>;
      case 'rollout': {
        const { rolloutTimer } = need('rollout', 'ledger', 'agents', 'bus', 'rolloutTimer');
        return rolloutStage(
          {
            ...need('rollout', 'ledger', 'agents', 'bus'),
            clock,
            timer: rolloutTimer,
            ...optional('provider'),
            ...signer('rollout'),
          },
          rt,
        ) as SqsStage<unknown>;
      }
      case 'record':
        return recordStage(need('record', 'recorder'), rt) as SqsStage<unknown>;
      case 'reconcile': {
        const { repos, history } = need('reconcile', 'repos', 'history');
        return reconcileStage(
          {
            ...need('reconcile', 'git', 'ledger', 'bus', 'newTraceId'),
            clock,
            // The configured deploy branches (clone URLs from configuration), minus settled heads.
            tracked: async (repo) =>
              trackedBranches(deployBranchList(repos), (await history.newest()).branches, repo),
          },
          rt,
        ) as SqsStage<unknown>;
      }
      case 'agent':
        return agentStage(
          {
            ...need('agent', 'bundles', 'cluster', 'secrets', 'bus'),
            clock,
            ...verifier('agent'),
            ...optional('sops'),
            ...(adapters.healthRechecks ? { rechecks: adapters.healthRechecks } : {}),
            ...(options.healthDeadlineMs === undefined ? {} : { healthDeadlineMs: options.healthDeadlineMs }),
            ...(options.healthPollMs === undefined ? {} : { healthPollMs: options.healthPollMs }),
            ...(options.sleep ? { sleep: options.sleep } : {}),
            ...(options.exclusive ? { exclusive: options.exclusive } : {}),
          },
          rt,
        ) as SqsStage<unknown>;
    }
  };

  const handlers = new Map<StageName, SqsHandler>();
  let ingest: IngestDeps | undefined;

  const ingestDeps = (): IngestDeps => {
    if (ingest) return ingest;
    const { bus, secrets, sharedWebhookSecrets, deliveries, newTraceId } = need(
      'ingest',
      'bus',
      'secrets',
      'sharedWebhookSecrets',
      'deliveries',
      'newTraceId',
    );
    // A repo's own secret (`sluice webhook register`), else the shared one; answers — "none of
    // its own" included — are kept a while, so repos on the shared secret cost no lookup per push.
    const perRepo = repoWebhookSecrets({
      store: secrets,
      clock: adapters.clock,
      fallback: sharedWebhookSecrets,
    });
    const answers = new TtlCache<string[]>({ ttlMs: options.webhookSecretTtlMs ?? 60_000 });
    ingest = {
      bus,
      clock: adapters.clock,
      deliveries,
      newTraceId,
      webhookSecrets: (provider, repo) =>
        answers.get(`${provider}\n${repo ?? ''}`, () => perRepo(provider, repo)),
      ...optional('planIntake', 'rateLimiter', 'repos', 'reconcile'),
    };
    return ingest;
  };

  return {
    routes: PIPELINE_ROUTES,
    handler(stage) {
      let handler = handlers.get(stage);
      if (handler === undefined) {
        const rt = runtime(stage);
        handler = sqsHandler(build(stage, rt), rt);
        handlers.set(stage, handler);
      }
      return handler;
    },
    ingestDeps,
    ingestHandler: () => createIngestHandler(ingestDeps(), loggerFor('ingest')),
  };
};
