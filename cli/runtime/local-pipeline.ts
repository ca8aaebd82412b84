import { join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSRecord } from 'aws-lambda';
import { createAgentHandler } from '../../functions/agent/handler.ts';
import type { HandlerExtras } from '../../functions/commons/sqs.ts';
import { createDispatchHandler } from '../../functions/dispatch/handler.ts';
import { createPlanHandler } from '../../functions/plan/handler.ts';
import { createRenderHandler } from '../../functions/render/handler.ts';
import { createReportHandler } from '../../functions/report/handler.ts';
import { createRollbackHandler } from '../../functions/rollback/handler.ts';
import { keyedLock } from '../../shared/adapters/keyed-lock.ts';
import { ephemeralSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import { FileBundleStore } from '../../shared/adapters/local/bundle-store.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { type Consumer, type SqsHandler, startConsumer } from '../../shared/adapters/local/event-source.ts';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { MemoryIdempotencyStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { LocalQueue } from '../../shared/adapters/local/queue.ts';
import { FileRenderCache } from '../../shared/adapters/local/render-cache.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { BadInputError } from '../../shared/errors.ts';
import type {
  AgentDispatcher,
  BundleSigner,
  BundleStore,
  BundleVerifier,
  Clock,
  ClusterClient,
  GitProvider,
  GitSource,
  GitWriter,
  ManifestRenderer,
  PullRequestOpener,
  SecretStore,
} from '../../shared/ports/index.ts';
import {
  agentQueueName,
  MAX_RECEIVE_COUNT,
  planGroupId,
  ROLLBACK_ROUTE,
  ROUTES,
} from '../../shared/routing.ts';
import type { Envelope } from '../../shared/schemas/events.ts';

export interface LocalPipelineOptions {
  /** Signs what dispatch hands to agents; agents refuse anything else. A per-process key by default. */
  readonly signing?: { signer: BundleSigner; verifier: BundleVerifier };
  readonly workdir: string;
  readonly git: GitSource;
  readonly secrets: SecretStore;
  readonly clock?: Clock;
  /**
   * How long a push waits on the plan queue before it is planned. Pushes to one branch that
   * arrive within this window collapse into one plan of the newest (the older are superseded).
   */
  readonly coalesceMs?: number;
  readonly bundles?: BundleStore;
  /** kubectl kustomize / helm template (default: the layer's binaries, unpacked on first use). */
  readonly renderer?: ManifestRenderer;
  /** The cluster client for a target; directories under `<workdir>/targets/<name>` by default. */
  readonly cluster?: (target: string) => ClusterClient;
  readonly logger?: Logger;
  readonly retryDelayMs?: number;
  /** Commit statuses back to the Git provider (pending at plan, the outcome at report). */
  readonly provider?: GitProvider;
  /** Rollback: writes the revert into the config repo, and opens the PR in review mode. */
  readonly writer?: GitWriter;
  readonly pullRequests?: PullRequestOpener;
  /** The clone URL of a repository named in events (`local/fleet`); rollback reads sluice.yaml there. */
  readonly repoUrl?: (repo: string) => string;
}

export interface LocalPipeline {
  readonly bus: LocalEventBus;
  readonly ledger: FileLedger;
  readonly bundles: BundleStore;
  readonly queues: ReadonlyMap<string, LocalQueue>;
  readonly deadLetters: ReadonlyMap<string, LocalQueue>;
  targetDir(target: string): string;
  /** Resolves once every queue is empty and no handler is running. */
  idle(options?: { timeoutMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export const workdirPaths = (workdir: string) => ({
  ledger: join(workdir, 'state', 'ledger.json'),
  events: join(workdir, 'state', 'events.jsonl'),
  bundles: workdir,
  targets: join(workdir, 'targets'),
  gitCache: join(workdir, 'cache', 'git'),
  repos: join(workdir, 'git'),
});

/**
 * The whole pipeline in one process: the same handlers as in AWS, fed by in-process queues with
 * SQS semantics through the same rules, with the filesystem as bundle store, ledger and targets.
 */
export const startLocalPipeline = (options: LocalPipelineOptions): LocalPipeline => {
  const paths = workdirPaths(options.workdir);
  const clock = options.clock ?? systemClock;
  const signing = options.signing ?? ephemeralSigningKey();
  const bus = new LocalEventBus({ logFile: paths.events });
  const ledger = new FileLedger(paths.ledger);
  const bundles = options.bundles ?? new FileBundleStore(paths.bundles);
  const targetDir = (target: string) => join(paths.targets, target);
  const clusters = new Map<string, ClusterClient>();
  const cluster =
    options.cluster ??
    ((target: string) => {
      const existing = clusters.get(target);
      if (existing) return existing;
      const created = new DirectoryCluster(targetDir(target));
      clusters.set(target, created);
      return created;
    });

  const queues = new Map<string, LocalQueue>();
  const deadLetters = new Map<string, LocalQueue>();
  const makeQueue = (name: string, fifo: boolean, delayMs = 0) => {
    const dlqName = fifo ? name.replace(/\.fifo$/, '-dlq.fifo') : `${name}-dlq`;
    const dlq = new LocalQueue({ name: dlqName, fifo });
    const queue = new LocalQueue({
      name,
      fifo,
      contentBasedDeduplication: fifo,
      delayMs,
      visibilityTimeoutMs: 60_000,
      deadLetter: { queue: dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    queues.set(name, queue);
    deadLetters.set(dlqName, dlq);
    return queue;
  };

  const extras: HandlerExtras = {
    ...(options.logger ? { logger: options.logger } : {}),
    onPoison: async (record: SQSRecord, error: Error) => {
      const name = record.eventSourceARN.split(':').at(-1) ?? '';
      queues.get(name)?.deadLetter(record.receiptHandle, error.message);
    },
  };

  const agents: AgentDispatcher = {
    send: async (target, message) => {
      const name = agentQueueName(target.region);
      const queue = queues.get(name) ?? startAgent(name);
      queue.send([{ body: message.body }]);
    },
  };

  const provider = options.provider ? { provider: options.provider } : {};
  const handlers: Record<(typeof ROUTES)[number]['fn'], SqsHandler> = {
    plan: createPlanHandler({ git: options.git, ledger, bus, clock, ...provider }, extras),
    render: createRenderHandler(
      {
        git: options.git,
        ledger,
        bundles,
        bus,
        clock,
        renderer: options.renderer ?? createToolRenderer(),
        renderCache: new FileRenderCache(paths.bundles),
        schemas: fileK8sSchemas(),
        ...provider,
      },
      extras,
    ),
    dispatch: createDispatchHandler({ ledger, agents, bus, clock, signer: signing.signer }, extras),
    report: createReportHandler({ ledger, clock, ...provider }, extras),
  };
  const agentHandler = createAgentHandler(
    {
      bundles,
      cluster,
      secrets: options.secrets,
      bus,
      clock,
      exclusive: keyedLock(),
      verifier: signing.verifier,
    },
    extras,
  );

  const consumers: Consumer[] = [];
  const consumerOptions = { retryDelayMs: options.retryDelayMs ?? 500, pollMs: 200 };
  for (const route of ROUTES) {
    const queue = makeQueue(route.queue, route.fifo, route.fn === 'plan' ? (options.coalesceMs ?? 1500) : 0);
    bus.addRule({
      name: `to-${route.fn}`,
      detailTypes: route.detailTypes,
      deliver: (envelope) =>
        queue.send([
          {
            body: JSON.stringify(envelope),
            ...(route.fifo
              ? { groupId: planGroupId(envelope.detail as { repo: string; branch: string }) }
              : {}),
          },
        ]),
    });
    consumers.push(
      startConsumer(queue, handlers[route.fn], {
        ...consumerOptions,
        // FIFO: a batch may hold many groups; each group's order is kept by the processor.
        batchSize: route.fifo ? 10 : 5,
      }),
    );
  }
  const rollbackQueue = makeQueue(ROLLBACK_ROUTE.queue, false);
  const toRollback = (envelope: Envelope) => rollbackQueue.send([{ body: JSON.stringify(envelope) }]);
  bus.addRule({ name: 'to-rollback', detailTypes: ROLLBACK_ROUTE.detailTypes, deliver: toRollback });
  for (const foreign of ROLLBACK_ROUTE.foreign) {
    bus.addRule({
      name: `${foreign.source}-to-rollback`,
      source: foreign.source,
      detailTypes: [foreign.detailType],
      deliver: toRollback,
    });
  }
  const rollbackHandler = createRollbackHandler(
    {
      ledger,
      git: options.git,
      bundles,
      agents,
      bus,
      clock,
      claims: new MemoryIdempotencyStore(clock),
      signer: signing.signer,
      repoUrl:
        options.repoUrl ??
        ((repo) => {
          throw new BadInputError(
            `repository ${repo}`,
            'has no clone URL',
            'pass repoUrl to the local pipeline',
          );
        }),
      ...(options.writer ? { writer: options.writer } : {}),
      ...(options.pullRequests ? { pullRequests: options.pullRequests } : {}),
    },
    extras,
  );
  consumers.push(startConsumer(rollbackQueue, rollbackHandler, { ...consumerOptions, batchSize: 5 }));

  const startAgent = (name: string) => {
    const queue = makeQueue(name, false);
    consumers.push(startConsumer(queue, agentHandler, { ...consumerOptions, batchSize: 5 }));
    return queue;
  };

  const quiet = () =>
    [...queues.values()].every((q) => q.depth === 0) && consumers.every((c) => c.busy === 0);

  return {
    bus,
    ledger,
    bundles,
    queues,
    deadLetters,
    targetDir,
    async idle({ timeoutMs = 30_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      let stableSince: number | undefined;
      while (Date.now() < deadline) {
        if (quiet()) {
          stableSince ??= Date.now();
          if (Date.now() - stableSince >= 50) return;
        } else stableSince = undefined;
        await new Promise((r) => setTimeout(r, 10));
      }
      const busy = [...queues.values()].filter((q) => q.depth > 0).map((q) => `${q.name}=${q.depth}`);
      throw new Error(
        `pipeline not idle after ${timeoutMs} ms (queues: ${busy.join(', ') || 'handlers running'})`,
      );
    },
    async stop() {
      await Promise.all(consumers.map((c) => c.stop()));
    },
  };
};
