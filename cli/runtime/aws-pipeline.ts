/**
 * The local pipeline against an AWS API (the emulator, `sluice dev --aws`): the same handlers as
 * `sluice dev` and the Lambdas, on the AWS adapters — EventBridge bus and rules, SQS queues with
 * dead-letter queues (the plan queue FIFO, grouped per repo+branch), the S3 bundle store, ledger and
 * delivery claims, Secrets Manager. LocalStack runs no Lambda code without Docker, so each queue is
 * drained in this process by the queue loop `sluice agent` uses, as an event-source mapping would.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { createAgentHandler } from '../../functions/agent/handler.ts';
import { createDispatchHandler } from '../../functions/dispatch/handler.ts';
import { SqsPlanIntake } from '../../functions/ingest/sqs-plan-intake.ts';
import { createPlanHandler } from '../../functions/plan/handler.ts';
import { createRenderHandler } from '../../functions/render/handler.ts';
import { createReportHandler } from '../../functions/report/handler.ts';
import { createRollbackHandler } from '../../functions/rollback/handler.ts';
import { clientConfig, s3ClientConfig } from '../../shared/adapters/aws/client-config.ts';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { S3IdempotencyStore } from '../../shared/adapters/aws/s3-idempotency-store.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { SqsAgentDispatcher } from '../../shared/adapters/aws/sqs-agent-dispatcher.ts';
import { createGitWriter } from '../../shared/adapters/git/git-writer.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { localContext, type SqsHandler } from '../../shared/adapters/local/event-source.ts';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import type { AwsSettings } from '../../shared/config/env.ts';
import { PROVIDER_NAMES } from '../../shared/core/webhooks/index.ts';
import { BadInputError } from '../../shared/errors.ts';
import type {
  AgentDispatcher,
  Clock,
  ClusterClient,
  GitSource,
  GitWriter,
  ManifestRenderer,
  PullRequestOpener,
} from '../../shared/ports/index.ts';
import { agentQueueName, MAX_RECEIVE_COUNT, ROLLBACK_ROUTE, ROUTES } from '../../shared/routing.ts';
import { type Envelope, EVENT_SOURCE } from '../../shared/schemas/events.ts';
import { runQueueAgent } from '../commands/agent.ts';

export interface AwsPipelineOptions {
  /** The emulator (or account) to run on; `endpoint` is normally set. */
  readonly aws: AwsSettings;
  /** Prefix of every bus, queue, bucket and secret this creates. @default 'sluice-dev' */
  readonly prefix?: string;
  readonly git: GitSource;
  /** Directory targets live under `<targetsDir>/<target>` unless `cluster` is given. */
  readonly targetsDir: string;
  readonly cluster?: (target: string) => ClusterClient;
  readonly renderer?: ManifestRenderer;
  /** Plan queue delivery delay: pushes to one branch within it become one plan. @default 1 */
  readonly coalesceSeconds?: number;
  /** Every event on the bus, as it is delivered to the events queue (for printing). */
  readonly onEvent?: (event: Envelope) => void;
  readonly log?: (line: string) => void;
  readonly clock?: Clock;
  /**
   * Rollback: the clone URL of a repository named in events. @default the URL its pushes carried
   * through this pipeline since it started
   */
  readonly repoUrl?: (repo: string) => string;
  /** Writes rollback reverts. @default an anonymous isomorphic-git writer, cached under the OS temp folder */
  readonly writer?: GitWriter;
  /** Opens the pull request of a rollback in review mode. @default none (Revert Failed says so) */
  readonly pullRequests?: PullRequestOpener;
}

export interface AwsPipelineResources {
  readonly busName: string;
  readonly bucket: string;
  /** Queue URLs by queue name (without the prefix): plan.fifo, render, …, events. */
  readonly queues: Readonly<Record<string, string>>;
}

export interface AwsPipeline {
  readonly resources: AwsPipelineResources;
  readonly bus: EventBridgeBus;
  readonly ledger: S3Ledger;
  readonly deliveries: S3IdempotencyStore;
  readonly planIntake: SqsPlanIntake;
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

const ignoreExisting = (names: readonly string[]) => (error: unknown) => {
  if (!names.includes((error as { name?: string }).name ?? '')) throw error;
};

/**
 * Creates (or finds) what the management stack would hold for the pipeline: the bus, one rule and
 * queue + DLQ per route (the plan rule only for non-webhook producers: ingest sends to the plan
 * queue itself), a rule copying every event to an `events` queue, and the bucket.
 */
export const provisionAwsPipeline = async (
  aws: AwsSettings,
  prefix = 'sluice-dev',
  options: { coalesceSeconds?: number } = {},
): Promise<AwsPipelineResources> => {
  const events = new EventBridgeClient(clientConfig(aws));
  const sqs = new SQSClient(clientConfig(aws));
  const s3 = new S3Client(s3ClientConfig(aws));
  const busName = prefix;
  const bucket = `${prefix}-bundles`;
  await events
    .send(new CreateEventBusCommand({ Name: busName }))
    .catch(ignoreExisting(['ResourceAlreadyExistsException']));
  await s3
    .send(new CreateBucketCommand({ Bucket: bucket }))
    .catch(ignoreExisting(['BucketAlreadyOwnedByYou', 'BucketAlreadyExists']));

  const queues: Record<string, string> = {};
  const createQueue = async (name: string, attributes: Record<string, string> = {}) => {
    const fifo = name.endsWith('.fifo');
    const dlq = await sqs.send(
      new CreateQueueCommand({
        QueueName: `${prefix}-${fifo ? name.replace(/\.fifo$/, '-dlq.fifo') : `${name}-dlq`}`,
        Attributes: fifo ? { FifoQueue: 'true' } : {},
      }),
    );
    const dlqArn = await queueArn(sqs, dlq.QueueUrl!);
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: `${prefix}-${name}`,
        Attributes: {
          ...(fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'true' } : {}),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
          ...attributes,
        },
      }),
    );
    queues[name] = QueueUrl!;
    return { url: QueueUrl!, arn: await queueArn(sqs, QueueUrl!) };
  };

  const rule = async (
    name: string,
    pattern: Record<string, unknown>,
    arn: string,
    groupId?: string,
    eventBusName = busName,
  ) => {
    await events.send(
      new PutRuleCommand({
        Name: `${prefix}-${name}`,
        EventBusName: eventBusName,
        EventPattern: JSON.stringify(pattern),
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: `${prefix}-${name}`,
        EventBusName: eventBusName,
        Targets: [
          { Id: 'queue', Arn: arn, ...(groupId ? { SqsParameters: { MessageGroupId: groupId } } : {}) },
        ],
      }),
    );
  };

  for (const route of ROUTES) {
    const queue = await createQueue(
      route.queue.replace(/^sluice-/, ''),
      route.fn === 'plan' ? { DelaySeconds: String(options.coalesceSeconds ?? 1) } : {},
    );
    await rule(
      `to-${route.fn}`,
      {
        source: [EVENT_SOURCE],
        'detail-type': [...route.detailTypes],
        ...(route.fn === 'plan' ? { detail: { provider: [{ 'anything-but': [...PROVIDER_NAMES] }] } } : {}),
      },
      queue.arn,
      route.fifo ? 'sluice-plan' : undefined,
    );
  }
  // Rollback: Sluice's own triggers from the bus, CloudWatch alarms entering ALARM from the default bus.
  const rollback = await createQueue(ROLLBACK_ROUTE.queue.replace(/^sluice-/, ''));
  await rule(
    'to-rollback',
    { source: [EVENT_SOURCE], 'detail-type': [...ROLLBACK_ROUTE.detailTypes] },
    rollback.arn,
  );
  for (const foreign of ROLLBACK_ROUTE.foreign) {
    const pattern = {
      source: [foreign.source],
      'detail-type': [foreign.detailType],
      detail: { state: { value: ['ALARM'] } },
    };
    await rule(`${foreign.source}-to-rollback`, pattern, rollback.arn, undefined, 'default');
  }
  const all = await createQueue('events');
  await rule('to-events', { source: [EVENT_SOURCE] }, all.arn);
  return { busName, bucket, queues };
};

const queueArn = async (sqs: SQSClient, url: string): Promise<string> => {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return Attributes!.QueueArn!;
};

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
  const secretsClient = new SecretsManagerClient(clientConfig(aws));
  const bus = new EventBridgeBus({ busName: resources.busName, aws });
  const ledger = new S3Ledger({ bucket: resources.bucket, aws });
  const bundles = new S3BundleStore({ bucket: resources.bucket, aws });
  const secrets = new SecretsManagerStore({ aws, ttlMs: 1_000 });
  const stop = new AbortController();
  const loops: Promise<void>[] = [];
  const putSecrets = new Map<string, Record<string, string>>();

  /** One event-source loop: receive, run the handler on a one-record batch, delete on success. */
  const drain = (queueUrl: string, name: string, handler: SqsHandler) => {
    loops.push(
      runQueueAgent({
        queueUrl,
        sqs,
        signal: stop.signal,
        visibilityTimeout: 30,
        log: (line) => log(`${name}: ${line}`),
        handle: async (record: SQSRecord) => {
          const result = await handler({ Records: [record] }, localContext(name));
          return (result?.batchItemFailures ?? []).length === 0;
        },
      }),
    );
  };

  const clusters = new Map<string, ClusterClient>();
  const cluster =
    options.cluster ??
    ((target: string) => {
      let client = clusters.get(target);
      if (client === undefined) {
        client = new DirectoryCluster(`${options.targetsDir}/${target}`);
        clusters.set(target, client);
      }
      return client;
    });
  const agentHandler = createAgentHandler({ bundles, cluster, secrets, bus, clock });

  // A region's agent queue is created, and drained here, the first time work is sent to it.
  const agentQueues = new Map<string, Promise<string>>();
  const createAgentQueue = (region: string) =>
    sqs.send(
      new CreateQueueCommand({ QueueName: `${prefix}-${agentQueueName(region).replace(/^sluice-/, '')}` }),
    );
  const agentQueue = (region: string): Promise<string> => {
    let url = agentQueues.get(region);
    if (url === undefined) {
      url = createAgentQueue(region).then(({ QueueUrl }) => {
        drain(QueueUrl!, `agent-${region}`, agentHandler);
        return QueueUrl!;
      });
      agentQueues.set(region, url);
    }
    return url;
  };
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

  const handlers: Record<(typeof ROUTES)[number]['fn'], SqsHandler> = {
    plan: createPlanHandler({ git: options.git, ledger, bus, clock }),
    render: createRenderHandler({
      git: options.git,
      ledger,
      bundles,
      bus,
      clock,
      renderer: options.renderer ?? createToolRenderer(),
      // Every policy layer, as in process: the vendored Kubernetes schemas too.
      schemas: fileK8sSchemas(),
    }),
    dispatch: createDispatchHandler({ ledger, agents, bus, clock }),
    report: createReportHandler({ ledger, clock }),
  };
  for (const route of ROUTES) {
    const name = route.queue.replace(/^sluice-/, '');
    drain(resources.queues[name]!, route.fn, learnRepoUrls(handlers[route.fn]));
  }
  drain(
    resources.queues.rollback!,
    'rollback',
    createRollbackHandler({
      ledger,
      git: options.git,
      bundles,
      agents,
      bus,
      clock,
      claims: new S3IdempotencyStore({ bucket: resources.bucket, aws }),
      writer: options.writer ?? createGitWriter({ cacheDir: join(tmpdir(), `${prefix}-git-writer`) }),
      ...(options.pullRequests ? { pullRequests: options.pullRequests } : {}),
      repoUrl: options.repoUrl ?? learnedRepoUrl,
    }),
  );
  if (options.onEvent) {
    const onEvent = options.onEvent;
    drain(resources.queues.events!, 'events', async (event) => {
      for (const record of event.Records) onEvent(JSON.parse(record.body) as Envelope);
      return undefined;
    });
  }

  const putSecret = async (name: string, value: Record<string, string>): Promise<void> => {
    putSecrets.set(name, value);
    const SecretString = JSON.stringify(value);
    await secretsClient
      .send(new CreateSecretCommand({ Name: name, SecretString }))
      .catch(async (error: unknown) => {
        if ((error as { name?: string }).name !== 'ResourceExistsException') throw error;
        await secretsClient.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
      });
  };

  return {
    resources,
    bus,
    ledger,
    deliveries: new S3IdempotencyStore({ bucket: resources.bucket, aws }),
    planIntake: new SqsPlanIntake({ queueUrl: resources.queues['plan.fifo']!, aws }),
    secrets,
    putSecret,
    async reprovision() {
      await provisionAwsPipeline(aws, prefix, provisionOptions);
      for (const region of agentQueues.keys()) await createAgentQueue(region);
      for (const [name, value] of putSecrets) await putSecret(name, value);
    },
    async stop() {
      stop.abort();
      await Promise.allSettled(loops);
    },
  };
};
