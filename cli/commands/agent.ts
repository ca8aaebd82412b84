/**
 * `sluice agent`: the regional agent as a long-running process, for clusters anywhere (other
 * clouds, on-prem, or EKS without the Lambda). It long-polls its region's agent queue, applies
 * each Apply Requested to the cluster it runs against, keeps the message invisible while a long
 * apply or health wait runs, and stops taking work on SIGTERM, finishing what it holds.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { Command } from 'commander';
import { createAgentHandler } from '../../functions/agent/handler.ts';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { KubeHttp } from '../../shared/adapters/k8s/kube-http.ts';
import { KubernetesCluster } from '../../shared/adapters/k8s/kubernetes-cluster.ts';
import { localContext } from '../../shared/adapters/local/event-source.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { runtimeSecretStore } from '../../shared/adapters/runtime-secret-store.ts';
import { readAwsSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { checkAllDrift, formatDrift } from '../../shared/core/drift.ts';
import { BadInputError } from '../../shared/errors.ts';

/** The part of the SQS client the loop uses. */
export interface QueueClient {
  send(
    command: ReceiveMessageCommand | DeleteMessageCommand | ChangeMessageVisibilityCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ Messages?: Message[] } | object>;
}

export interface QueueAgentOptions {
  readonly queueUrl: string;
  readonly sqs: QueueClient;
  /** Runs one message; true when it is done (delete it), false to let the queue retry it. */
  readonly handle: (record: SQSRecord) => Promise<boolean>;
  readonly signal: AbortSignal;
  /** Seconds a received message stays invisible; renewed at half-time while it is worked on. */
  readonly visibilityTimeout?: number;
  readonly log?: (line: string) => void;
}

const toRecord = (m: Message, queueUrl: string): SQSRecord => ({
  messageId: m.MessageId ?? '',
  receiptHandle: m.ReceiptHandle ?? '',
  body: m.Body ?? '',
  attributes: {
    ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
    SentTimestamp: m.Attributes?.SentTimestamp ?? '0',
    SenderId: m.Attributes?.SenderId ?? '',
    ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? '0',
  },
  messageAttributes: {},
  md5OfBody: m.MD5OfBody ?? '',
  eventSource: 'aws:sqs',
  eventSourceARN: queueUrl,
  awsRegion: '',
});

/**
 * Long-polls until `signal` aborts. One message at a time: work for one cluster is applied in
 * order. A message whose work fails stays on the queue (it becomes visible again and the queue's
 * redrive policy parks it after its receive limit).
 */
export const runQueueAgent = async (options: QueueAgentOptions): Promise<void> => {
  const visibility = options.visibilityTimeout ?? 120;
  const log = options.log ?? (() => {});
  while (!options.signal.aborted) {
    let messages: Message[] = [];
    try {
      const out = (await options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: 20,
          VisibilityTimeout: visibility,
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        }),
        { abortSignal: options.signal },
      )) as { Messages?: Message[] };
      messages = out.Messages ?? [];
    } catch (error) {
      if (options.signal.aborted) break;
      log(`receive failed, retrying in 5 s: ${error instanceof Error ? error.message : String(error)}`);
      await new Promise((ok) => setTimeout(ok, 5000));
      continue;
    }
    for (const message of messages) {
      const receipt = message.ReceiptHandle ?? '';
      // Keep the message ours while a long apply or health wait runs.
      const heartbeat = setInterval(
        () => {
          options.sqs
            .send(
              new ChangeMessageVisibilityCommand({
                QueueUrl: options.queueUrl,
                ReceiptHandle: receipt,
                VisibilityTimeout: visibility,
              }),
            )
            .catch((error: unknown) =>
              log(`could not extend visibility: ${error instanceof Error ? error.message : String(error)}`),
            );
        },
        // A third of the timeout: two renewals may be late or lost before the message lapses.
        (visibility * 1000) / 3,
      );
      try {
        const done = await options.handle(toRecord(message, options.queueUrl));
        if (done) {
          await options.sqs.send(
            new DeleteMessageCommand({ QueueUrl: options.queueUrl, ReceiptHandle: receipt }),
          );
        }
      } catch (error) {
        // The message stays on the queue: it comes back after its visibility timeout.
        log(`message ${message.MessageId}: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearInterval(heartbeat);
      }
    }
  }
};

interface AgentFlags {
  queueUrl: string;
  target: string;
  kubeconfig?: string;
  inCluster?: boolean;
  visibilityTimeout: string;
  maxPruneShare: string;
  healthDeadline: string;
  driftInterval: string;
  driftOnce?: boolean;
  app?: string[];
}

const positive = (flag: string, raw: string): number => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new BadInputError(flag, `"${raw}" is not a non-negative number`, `pass e.g. ${flag} 60`);
  return n;
};

export const registerAgent = (program: Command): void => {
  program
    .command('agent')
    .description("apply this region's Apply Requested work to a cluster: long-polls SQS, reports to the bus")
    .requiredOption('--queue-url <url>', "the region's agent queue (endpoint from AWS_ENDPOINT_URL when set)")
    .requiredOption('--target <name>', 'the target name this cluster is in sluice.yaml (for drift reports)')
    .option('--kubeconfig <file>', 'a kubeconfig file for the cluster')
    .option('--in-cluster', "use the pod's service account (deploy/agent/)")
    .option('--visibility-timeout <seconds>', 'how long a message is held; renewed every third of it', '120')
    .option('--max-prune-share <fraction>', 'largest share of an app one delivery may prune', '0.5')
    .option('--health-deadline <seconds>', 'default time an app has to become healthy', '300')
    .option('--drift-interval <seconds>', 'check every app for drift this often (0 = never)', '300')
    .option(
      '--drift-once',
      'check every app for drift now (on demand), report, heal where selfHeal, and exit',
    )
    .option('--app <name...>', 'with --drift-once: only these apps')
    .action(async (flags: AgentFlags) => {
      if (Boolean(flags.kubeconfig) === Boolean(flags.inCluster)) {
        throw new BadInputError(
          'sluice agent',
          'needs exactly one of --kubeconfig and --in-cluster',
          'pass --kubeconfig FILE, or --in-cluster inside a pod',
        );
      }
      const http = flags.kubeconfig ? KubeHttp.fromFile(flags.kubeconfig) : KubeHttp.inCluster();
      const cluster = new KubernetesCluster(http, {
        maxPruneShare: positive('--max-prune-share', flags.maxPruneShare),
      });
      const aws = readAwsSettings();
      const bucketAws = { ...aws, region: requireEnv(SLUICE_ENV.bucketRegion) };
      const bundles = new S3BundleStore({ bucket: requireEnv(SLUICE_ENV.bucket), aws: bucketAws });
      // aws-sm:// references in Secrets Manager; vault:// in Vault when VAULT_ADDR is set.
      const secrets = runtimeSecretStore();
      const bus = new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws });
      const deps = {
        bundles,
        cluster: () => cluster,
        secrets,
        bus,
        clock: systemClock,
        healthDeadlineMs: positive('--health-deadline', flags.healthDeadline) * 1000,
      };
      const handler = createAgentHandler(deps);
      const stop = new AbortController();
      const log = (line: string) => console.error(`sluice agent: ${line}`);
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        process.once(signal, () => {
          log(`${signal}: finishing the message in hand, taking no more`);
          stop.abort();
        });
      }
      /** Checks each app on its own: one app's failure is reported and never stops the others. */
      const checkAll = async (only?: readonly string[]): Promise<number> => {
        let failures = 0;
        const results = await checkAllDrift(deps, cluster, {
          target: flags.target,
          ...(only ? { apps: only } : {}),
        });
        for (const { app, drift, error } of results) {
          if (error) {
            failures += 1;
            log(`drift check of ${app} failed: ${error.message}`);
          } else if (drift) {
            log(`drift in ${app}${drift.healed ? ' (healed)' : ''}:\n${formatDrift(drift.diffs)}`);
          }
        }
        return failures;
      };
      if (flags.driftOnce) {
        if ((await checkAll(flags.app)) > 0) process.exitCode = 1;
        return;
      }
      const driftEvery = positive('--drift-interval', flags.driftInterval) * 1000;
      const drift =
        driftEvery > 0
          ? setInterval(() => {
              checkAll().catch((error: unknown) =>
                log(`drift check failed: ${error instanceof Error ? error.message : String(error)}`),
              );
            }, driftEvery)
          : undefined;
      const visibility = positive('--visibility-timeout', flags.visibilityTimeout);
      log(`polling ${flags.queueUrl}`);
      try {
        await runQueueAgent({
          queueUrl: flags.queueUrl,
          sqs: new SQSClient(clientConfig(aws)),
          signal: stop.signal,
          visibilityTimeout: visibility,
          log,
          handle: async (record) => {
            // No Lambda deadline here: middy must not cut a long apply short (the heartbeat keeps the message).
            const result = await handler({ Records: [record] }, localContext('sluice-agent', 24 * 3600_000));
            return (result?.batchItemFailures ?? []).length === 0;
          },
        });
      } finally {
        if (drift) clearInterval(drift);
      }
      log('stopped');
    });
};
