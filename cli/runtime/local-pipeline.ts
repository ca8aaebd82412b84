import { join } from 'node:path';
import { keyedLock } from '../../shared/adapters/keyed-lock.ts';
import { LocalAgentDispatcher } from '../../shared/adapters/local/agent-dispatcher.ts';
import { ephemeralSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import { FileBundleStore } from '../../shared/adapters/local/bundle-store.ts';
import { localDeadLetters } from '../../shared/adapters/local/dead-letters.ts';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { type Consumer, type SqsHandler, startConsumer } from '../../shared/adapters/local/event-source.ts';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { MemoryIdempotencyStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { LocalQueue } from '../../shared/adapters/local/queue.ts';
import { FileRenderCache } from '../../shared/adapters/local/render-cache.ts';
import { FileRolloutTimer } from '../../shared/adapters/local/rollout-timer.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { safeJoin } from '../../shared/adapters/safe-path.ts';
import { readRenderLimits } from '../../shared/config/env.ts';
import type { TrustDeps } from '../../shared/core/provenance.ts';
import { cloneUrlOf } from '../../shared/core/repos.ts';
import type { RateLimiter } from '../../shared/core/webhooks/rate-limit.ts';
import { BadInputError } from '../../shared/errors.ts';
import type { BundleStore, SecretStore } from '../../shared/ports/index.ts';
import { MAX_RECEIVE_COUNT, ROLLOUT_EVENTS, ROUTES } from '../../shared/routing.ts';
import { agentQueueName, createPipeline, type Pipeline } from '../../shared/runtime/pipeline.ts';
import { wakeBody } from '../../shared/runtime/rollout-stage.ts';
import { dispatchChunkBody } from '../../shared/schemas/dispatch-chunk.ts';
import type { Envelope } from '../../shared/schemas/events.ts';
import { directoryClusters, type HostOptions } from './host.ts';

export interface LocalPipelineOptions extends HostOptions {
  readonly workdir: string;
  readonly secrets: SecretStore;
  /**
   * How long a push waits on the plan queue before it is planned. Pushes to one branch that
   * arrive within this window collapse into one plan of the newest (the older are superseded).
   */
  readonly coalesceMs?: number;
  readonly bundles?: BundleStore;
  readonly retryDelayMs?: number;
  /** Bounds of the in-memory webhook dedupe (SLUICE_DEDUPE_*). @default 50,000 claims, one day each */
  readonly dedupe?: { readonly maxEntries?: number; readonly maxTtlSeconds?: number };
  /**
   * The webhook secrets of a repo with none of its own in `secrets` (`sluice dev`'s secret). A
   * repo's own (`sluice webhook register`) is looked up in `secrets` as by the deployed ingest.
   * @default none: only repos with their own secret are accepted
   */
  readonly sharedWebhookSecrets?: (provider: string) => Promise<string[]>;
  readonly rateLimiter?: RateLimiter;
  /** Commit signatures checked at plan time (`sluice dev --trust FILE`, docs/provenance.md). */
  readonly trust?: TrustDeps;
  /**
   * How much later than a push's receipt a branch listing must start to answer for it (one
   * process: one clock). Infinity lists the branch once per push (a benchmark baseline). @default 0
   */
  readonly ingestClockSkewMs?: number;
  /** Told of every handler invocation (one batch, as Lambda invokes): its stage and duration. */
  readonly onInvocation?: (stage: string, durationMs: number, records: number) => void;
}

export interface LocalPipeline {
  /** The composition root the handlers came from (ingest's deps too). */
  readonly pipeline: Pipeline;
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

const DISPATCH_QUEUE = ROUTES.find((r) => r.fn === 'dispatch')!.queue;

/** Stages whose in-process event source differs from the default (5 a batch, 2 batches at once). */
const LOCAL_CONSUMERS: Partial<Record<string, { batchSize: number; concurrency?: number }>> = {
  // One message per invocation, as the deployed function: each chunk of a split bundle its own.
  dispatch: { batchSize: 1, concurrency: 4 },
  // One release per invocation, as deployed: a batch of big renders could outlast its visibility
  // timeout and be rendered twice.
  render: { batchSize: 1 },
  // Outcomes are small ledger writes: more at once share each ledger file write.
  report: { batchSize: 10, concurrency: 8 },
};

export const workdirPaths = (workdir: string) => ({
  ledger: join(workdir, 'state', 'ledger.json'),
  events: join(workdir, 'state', 'events.jsonl'),
  bundles: workdir,
  targets: join(workdir, 'targets'),
  gitCache: join(workdir, 'cache', 'git'),
  repos: join(workdir, 'git'),
  rolloutTimers: join(workdir, 'state', 'rollout-timers.json'),
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
  // A target name comes from sluice.yaml: safeJoin refuses one that would leave targets/.
  const targetDir = (target: string) => safeJoin(paths.targets, target);
  const cluster = options.cluster ?? directoryClusters(paths.targets);

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

  // Progressive delivery: wake-ups in a workdir file, due ones to the rollout queue (restart-safe).
  const rolloutQueue = makeQueue('sluice-rollout', false);
  const rolloutTimer = new FileRolloutTimer({
    file: paths.rolloutTimers,
    deliver: async (wake) => {
      rolloutQueue.send([{ body: wakeBody(wake) }]);
    },
  });

  const agents = new LocalAgentDispatcher((target) => {
    const name = agentQueueName(target.region);
    return queues.get(name) ?? startAgent(name);
  });

  const pipeline: Pipeline = createPipeline(
    {
      clock,
      bus,
      ledger,
      bundles,
      git: options.git,
      // The host's render bounds (SLUICE_RENDER_*, docs/security.md#limits); sluice.yaml cannot raise them.
      renderer:
        options.renderer ??
        // Repository charts are kept by digest in the workdir, so later renders need no network.
        createToolRenderer({
          ...readRenderLimits().tools,
          chartCacheDir: join(options.workdir, 'cache', 'charts'),
        }),
      renderLimits: readRenderLimits().render,
      renderCache: new FileRenderCache(paths.bundles),
      schemas: fileK8sSchemas(),
      agents,
      ...signing,
      cluster,
      secrets: options.secrets,
      claims: new MemoryIdempotencyStore(clock),
      deadLetters: localDeadLetters(queues),
      deliveries: new MemoryIdempotencyStore({ clock, ...options.dedupe }),
      sharedWebhookSecrets: options.sharedWebhookSecrets ?? (async () => []),
      newTraceId: () => crypto.randomUUID(),
      ...(options.rateLimiter ? { rateLimiter: options.rateLimiter } : {}),
      repoUrl:
        options.repoUrl ??
        (options.repos ? cloneUrlOf(options.repos) : undefined) ??
        ((repo) => {
          throw new BadInputError(
            `repository ${repo}`,
            'has no clone URL',
            'pass repoUrl to the local pipeline',
          );
        }),
      ...(options.provider ? { provider: options.provider } : {}),
      ...(options.repos ? { repos: options.repos } : {}),
      ...(options.trust ? { trust: options.trust } : {}),
      ...(options.writer ? { writer: options.writer } : {}),
      ...(options.pullRequests ? { pullRequests: options.pullRequests } : {}),
      rolloutTimer,
      // A bundle for many targets is split into chunks on the dispatch queue, one invocation each.
      dispatchChunks: {
        send: async (chunks) => {
          queues.get(DISPATCH_QUEUE)!.send(chunks.map((chunk) => ({ body: dispatchChunkBody(chunk) })));
        },
      },
    },
    {
      ...(options.logger ? { logger: options.logger } : {}),
      // Metrics are counted as in Lambda; in process nobody reads EMF, so they go nowhere.
      metricsSink: options.metricsSink ?? (() => undefined),
      // Many agent handlers run at once on one in-process queue: one apply per target+app at a time.
      exclusive: keyedLock(),
      // secrets.json is read on every delivery: what `sluice webhook register` stores counts at once.
      webhookSecretTtlMs: 0,
      // One process stamps receipts and plans: one clock.
      ingestClockSkewMs: options.ingestClockSkewMs ?? 0,
    },
  );

  const consumers: Consumer[] = [];
  const consumerOptions = { retryDelayMs: options.retryDelayMs ?? 500, pollMs: 200 };
  const observed = (stage: string, handler: SqsHandler): SqsHandler => {
    const onInvocation = options.onInvocation;
    if (!onInvocation) return handler;
    return async (event, context) => {
      const started = performance.now();
      try {
        return await handler(event, context);
      } finally {
        onInvocation(stage, performance.now() - started, event.Records.length);
      }
    };
  };
  for (const route of pipeline.routes) {
    const queue = makeQueue(route.queue, route.fifo, route.fn === 'plan' ? (options.coalesceMs ?? 1500) : 0);
    const deliver = (envelope: Envelope) =>
      queue.send([
        {
          body: JSON.stringify(envelope),
          ...(route.groupId
            ? { groupId: route.groupId(envelope.detail as { repo: string; branch: string }) }
            : {}),
        },
      ]);
    bus.addRule({ name: `to-${route.fn}`, detailTypes: route.detailTypes, deliver });
    for (const foreign of route.foreign) {
      bus.addRule({
        name: `${foreign.source}-to-${route.fn}`,
        source: foreign.source,
        detailTypes: [foreign.detailType],
        deliver,
      });
    }
    consumers.push(
      startConsumer(queue, observed(route.fn, pipeline.handler(route.fn)), {
        ...consumerOptions,
        // FIFO: a batch may hold many groups; each group's order is kept by the processor.
        batchSize: route.fifo ? 10 : 5,
        ...LOCAL_CONSUMERS[route.fn],
      }),
    );
  }

  bus.addRule({
    name: 'to-rollout',
    detailTypes: [...ROLLOUT_EVENTS],
    deliver: (envelope) => rolloutQueue.send([{ body: JSON.stringify(envelope) }]),
  });
  consumers.push(
    startConsumer(rolloutQueue, pipeline.handler('rollout'), { ...consumerOptions, batchSize: 5 }),
  );
  rolloutTimer.start();

  const startAgent = (name: string) => {
    const queue = makeQueue(name, true);
    consumers.push(startConsumer(queue, pipeline.handler('agent'), { ...consumerOptions, batchSize: 5 }));
    return queue;
  };

  const quiet = () =>
    [...queues.values()].every((q) => q.depth === 0) && consumers.every((c) => c.busy === 0);

  return {
    pipeline,
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
      await rolloutTimer.stop();
      await Promise.all(consumers.map((c) => c.stop()));
    },
  };
};
