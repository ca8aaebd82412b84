/**
 * `sluice dev --aws`'s pipeline: the composition root on the AWS adapters — EventBridge bus and
 * rules, SQS queues with dead-letter queues (the plan queue FIFO, grouped per repo+branch), the S3
 * bundle store, ledger and delivery claims, Secrets Manager — against an AWS API (the emulator).
 * LocalStack runs no Lambda code without Docker, so each queue is drained in this process by the
 * SQS poller `sluice agent` uses, as an event-source mapping would. What it provisions comes from
 * shared/adapters/aws/pipeline-resources.ts.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import {
  type AwsPipelineResources,
  createQueueWithDlq,
  provisionAwsPipeline,
  putJsonSecret,
} from '../../shared/adapters/aws/pipeline-resources.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { S3EventRecord } from '../../shared/adapters/aws/s3-event-record.ts';
import { S3IdempotencyStore } from '../../shared/adapters/aws/s3-idempotency-store.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { SqsAgentDispatcher } from '../../shared/adapters/aws/sqs-agent-dispatcher.ts';
import { SqsDeadLetters } from '../../shared/adapters/aws/sqs-dead-letters.ts';
import { SqsHealthRechecks } from '../../shared/adapters/aws/sqs-delayed.ts';
import { SqsDispatchChunkQueue } from '../../shared/adapters/aws/sqs-dispatch-chunks.ts';
import { SqsPlanIntake } from '../../shared/adapters/aws/sqs-plan-intake.ts';
import { pollQueue } from '../../shared/adapters/aws/sqs-poller.ts';
import { SqsReconcileTrigger } from '../../shared/adapters/aws/sqs-reconcile-trigger.ts';
import { SqsRolloutTimer } from '../../shared/adapters/aws/sqs-rollout-timer.ts';
import { createGitWriter } from '../../shared/adapters/git/git-writer.ts';
import { ephemeralSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import { localContext, type SqsHandler } from '../../shared/adapters/local/event-source.ts';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { FileRenderCache } from '../../shared/adapters/local/render-cache.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { type AwsSettings, readRenderLimits } from '../../shared/config/env.ts';
import type { TrustDeps } from '../../shared/core/provenance.ts';
import { BadInputError } from '../../shared/errors.ts';
import type { AgentDispatcher } from '../../shared/ports/index.ts';
import { healthQueueName, RECORD_BATCH } from '../../shared/routing.ts';
import { agentQueueName, createPipeline, type Pipeline } from '../../shared/runtime/pipeline.ts';
import type { Envelope } from '../../shared/schemas/events.ts';
import { directoryClusters, type HostOptions } from './host.ts';

export type { AwsPipelineResources };

export interface AwsPipelineOptions extends HostOptions {
  /** The emulator (or account) to run on; `endpoint` is normally set. */
  readonly aws: AwsSettings;
  /** Prefix of every bus, queue, bucket and secret this creates. @default 'sluice-dev' */
  readonly prefix?: string;
  /** Directory targets live under `<targetsDir>/<target>` unless `cluster` is given. */
  readonly targetsDir: string;
  /** Plan queue delivery delay: pushes to one branch within it become one plan. @default 1 */
  readonly coalesceSeconds?: number;
  /** Every event on the bus, as it is delivered to the events queue (for printing). */
  readonly onEvent?: (event: Envelope) => void;
  readonly log?: (line: string) => void;
  /** Where rendered output is cached. @default a folder under the OS temp folder */
  readonly renderCacheDir?: string;
  /** Commit signatures checked at plan time (`sluice dev --aws --trust FILE`, docs/provenance.md). */
  readonly trust?: TrustDeps;
  /**
   * The agent waits for health in process instead of scheduling re-checks on the health queue, as
   * an agent before health queues did (the cost bench's comparison). @default false
   */
  readonly waitForHealth?: boolean;
  /** Each handler invocation, as Lambda would bill it: the function, its wall time, its records. */
  readonly onInvocation?: (fn: string, ms: number, records: number) => void;
}

export interface AwsPipeline {
  readonly resources: AwsPipelineResources;
  readonly bus: EventBridgeBus;
  readonly ledger: S3Ledger;
  readonly deliveries: S3IdempotencyStore;
  readonly planIntake: SqsPlanIntake;
  /** The composition root these handlers came from (ingest's deps too). */
  readonly pipeline: Pipeline;
  readonly secrets: SecretsManagerStore;
  /** Creates or updates a JSON secret (`aws-sm://name#key` references read it). */
  putSecret(name: string, value: Record<string, string>): Promise<void>;
  /**
   * Creates again what this pipeline provisioned (bus, rules, queues, the bucket, the agent queues it
   * created) and puts back the secrets it put, keeping every name and so every queue URL: what an
   * operator does after the emulator restarted without its state. The pipeline never calls it itself.
   */
  reprovision(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the pipeline on provisioned resources; every queue is drained in this process. */
export const startAwsPipeline = async (options: AwsPipelineOptions): Promise<AwsPipeline> => {
  const { aws } = options;
  const prefix = options.prefix ?? 'sluice-dev';
  const log = options.log ?? (() => {});
  const clock = options.clock ?? systemClock;
  const provisionOptions =
    options.coalesceSeconds === undefined ? {} : { coalesceSeconds: options.coalesceSeconds };
  const resources = await provisionAwsPipeline(aws, prefix, provisionOptions);
  const sqs = new SQSClient(clientConfig(aws));
  const bus = new EventBridgeBus({ busName: resources.busName, aws });
  const ledger = new S3Ledger({ bucket: resources.bucket, aws });
  const bundles = new S3BundleStore({ bucket: resources.bucket, aws });
  const secrets = new SecretsManagerStore({ aws, ttlMs: 1_000 });
  const deliveries = new S3IdempotencyStore({ bucket: resources.bucket, aws });
  const planIntake = new SqsPlanIntake({ queueUrl: resources.queues['plan.fifo']!, aws });
  const stop = new AbortController();
  const loops: Promise<void>[] = [];
  const putSecrets = new Map<string, Record<string, string>>();
  const deadLetterQueues = new Map(Object.entries(resources.deadLetterQueues));

  /**
   * One event-source loop, as a Lambda event-source mapping: one record per invocation, or
   * `batch`es gathered over a window (RECORD_BATCH); failed records stay on the queue, the rest
   * are deleted. Each invocation is reported to `onInvocation` with its wall time.
   */
  const drain = (
    queueUrl: string,
    name: string,
    handler: SqsHandler,
    batch?: { readonly size: number; readonly windowSeconds: number },
  ) => {
    const invoke = async (records: SQSRecord[]): Promise<string[]> => {
      const started = performance.now();
      const result = await handler({ Records: records }, localContext(name));
      options.onInvocation?.(name, performance.now() - started, records.length);
      return (result?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
    };
    loops.push(
      pollQueue({
        queueUrl,
        sqs,
        signal: stop.signal,
        visibilityTimeout: 30,
        log: (line) => log(`${name}: ${line}`),
        ...(batch
          ? { batch: { size: batch.size, windowMs: batch.windowSeconds * 1000, handle: invoke } }
          : { handle: async (record: SQSRecord) => (await invoke([record])).length === 0 }),
      }),
    );
  };

  const cluster = options.cluster ?? directoryClusters(options.targetsDir);

  /**
   * Queues per region, created (with their DLQ) and drained by the agent here the first time work
   * is sent to one; `recreate` makes them again after the emulator lost its state.
   */
  const regionalQueues = (nameOf: (region: string) => string) => {
    const urls = new Map<string, Promise<string>>();
    const create = async (region: string) => {
      const created = await createQueueWithDlq(sqs, prefix, nameOf(region).replace(/^sluice-/, ''));
      deadLetterQueues.set(created.url, created.deadLetterUrl);
      return created.url;
    };
    return {
      url: (region: string): Promise<string> => {
        let url = urls.get(region);
        if (url === undefined) {
          url = create(region).then((queueUrl) => {
            drain(queueUrl, nameOf(region).replace(/^sluice-|\.fifo$/g, ''), pipeline.handler('agent'));
            return queueUrl;
          });
          urls.set(region, url);
        }
        return url;
      },
      recreate: async () => {
        for (const region of urls.keys()) await create(region);
      },
    };
  };
  // A region's agent queue, and its health queue: the agent looks at a rollout's health once and
  // schedules the next look there (a delayed message), as the Lambda agent does, instead of waiting.
  const agentQueues = regionalQueues(agentQueueName);
  const healthQueues = regionalQueues(healthQueueName);
  const agentQueue = agentQueues.url;
  const healthQueue = healthQueues.url;
  const known = new Map<string, string>();
  const dispatcher = new SqsAgentDispatcher({
    queueUrlFor: (t) => known.get(t.region)!,
    clientFor: () => sqs,
  });
  const agents: AgentDispatcher = {
    send: async (target, message) => {
      known.set(target.region, await agentQueue(target.region));
      await dispatcher.send(target, message);
    },
    sendMany: async (messages) => {
      for (const region of new Set(messages.map((m) => m.target.region))) {
        known.set(region, await agentQueue(region));
      }
      await dispatcher.sendMany(messages);
    },
  };

  // Where each repo is cloned from, as its pushes and plans said (for rollback without options.repoUrl).
  const repoUrls = new Map<string, string>();
  const learnRepoUrls =
    (handler: SqsHandler): SqsHandler =>
    (event, context) => {
      for (const record of event.Records) {
        try {
          const { detail } = JSON.parse(record.body) as { detail?: { repo?: unknown; repoUrl?: unknown } };
          if (typeof detail?.repo === 'string' && typeof detail.repoUrl === 'string') {
            repoUrls.set(detail.repo, detail.repoUrl);
          }
        } catch {
          // Not JSON: the handler itself reports the bad message.
        }
      }
      return handler(event, context);
    };
  const learnedRepoUrl = (repo: string): string => {
    const url = repoUrls.get(repo);
    if (url === undefined) {
      throw new BadInputError(
        `repository ${repo}`,
        'has no known clone URL: no push of it was planned since this pipeline started',
        'push to it once, or pass repoUrl to startAwsPipeline',
      );
    }
    return url;
  };

  const signing = options.signing ?? ephemeralSigningKey();
  const pipeline = createPipeline(
    {
      clock,
      bus,
      ledger,
      bundles,
      git: options.git,
      // The host's render bounds (SLUICE_RENDER_*, docs/security.md#limits); sluice.yaml cannot raise them.
      renderer: options.renderer ?? createToolRenderer(readRenderLimits().tools),
      renderLimits: readRenderLimits().render,
      renderCache: new FileRenderCache(options.renderCacheDir ?? join(tmpdir(), `${prefix}-render-cache`)),
      // Every policy layer, as in process: the vendored Kubernetes schemas too.
      schemas: fileK8sSchemas(),
      agents,
      ...signing,
      cluster,
      secrets,
      claims: new S3IdempotencyStore({ bucket: resources.bucket, aws }),
      writer: options.writer ?? createGitWriter({ cacheDir: join(tmpdir(), `${prefix}-git-writer`) }),
      repoUrl: options.repoUrl ?? learnedRepoUrl,
      deadLetters: new SqsDeadLetters({
        queueUrlFor: (source) => deadLetterQueues.get(source) ?? `${source}-dlq`,
        client: sqs,
      }),
      deliveries,
      planIntake,
      sharedWebhookSecrets: async (provider) => [
        await secrets.get(`aws-sm://${resources.busName}/webhook#${provider}`).catch(() => ''),
      ],
      newTraceId: () => crypto.randomUUID(),
      ...(options.provider ? { provider: options.provider } : {}),
      ...(options.pullRequests ? { pullRequests: options.pullRequests } : {}),
      ...(options.repos ? { repos: options.repos } : {}),
      ...(options.trust ? { trust: options.trust } : {}),
      // The record of every event, in the bucket (the record and reconcile stages; docs/operate.md).
      recorder: new S3EventRecord({ bucket: resources.bucket, aws }),
      history: new S3EventRecord({ bucket: resources.bucket, aws }),
      // A throttled push asks for a delayed check of its repo on the reconcile queue.
      reconcile: new SqsReconcileTrigger({ queueUrl: resources.queues.reconcile!, client: sqs }),
      // Progressive delivery: a rollout's waits are delayed messages on the rollout queue.
      rolloutTimer: new SqsRolloutTimer({ queueUrl: resources.queues.rollout!, clock, client: sqs }),
      ...(options.waitForHealth
        ? {}
        : {
            healthRechecks: new SqsHealthRechecks({
              queueUrl: (t) => healthQueue(t.region),
              clock,
              client: sqs,
            }),
          }),
      // A bundle for many targets: dispatch splits it into chunks on its own queue.
      dispatchChunks: new SqsDispatchChunkQueue({ queueUrl: resources.queues.dispatch!, client: sqs }),
    },
    {
      ...(options.logger ? { logger: options.logger } : {}),
      metricsSink: options.metricsSink ?? (() => undefined),
    },
  );

  for (const route of pipeline.routes) {
    const name = route.queue.replace(/^sluice-/, '');
    drain(resources.queues[name]!, route.fn, learnRepoUrls(pipeline.handler(route.fn)));
    // The chunks of a split bundle are handed over in parallel, as Lambda runs one invocation each.
    if (route.fn === 'dispatch') drain(resources.queues[name]!, route.fn, pipeline.handler(route.fn));
  }
  // In batches, as the record function's event source hands them over (RECORD_BATCH).
  drain(resources.queues.record!, 'record', pipeline.handler('record'), RECORD_BATCH);
  drain(resources.queues.rollout!, 'rollout', pipeline.handler('rollout'));
  // Reconcile polls the configured repos: a host that names none (a test of one stage) has nothing to poll.
  if (options.repos) drain(resources.queues.reconcile!, 'reconcile', pipeline.handler('reconcile'));
  if (options.onEvent) {
    const onEvent = options.onEvent;
    drain(resources.queues.events!, 'events', async (event) => {
      for (const record of event.Records) onEvent(JSON.parse(record.body) as Envelope);
      return undefined;
    });
  }

  const putSecret = async (name: string, value: Record<string, string>): Promise<void> => {
    putSecrets.set(name, value);
    await putJsonSecret(aws, name, value);
  };

  return {
    resources,
    bus,
    ledger,
    deliveries,
    planIntake,
    secrets,
    pipeline,
    putSecret,
    async reprovision() {
      await provisionAwsPipeline(aws, prefix, provisionOptions);
      await agentQueues.recreate();
      await healthQueues.recreate();
      for (const [name, value] of putSecrets) await putSecret(name, value);
    },
    async stop() {
      stop.abort();
      await Promise.allSettled(loops);
    },
  };
};
