/**
 * `sluice agent`: the regional agent as a long-running process, for clusters anywhere (other
 * clouds, on-prem, or EKS without the Lambda). It long-polls its region's agent queue, applies
 * each Apply Requested to the cluster it runs against, keeps the message invisible while a long
 * apply or health wait runs, and stops taking work on SIGTERM, finishing what it holds.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { KmsBundleVerifier } from '../../shared/adapters/aws/kms-bundle-signing.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { pollQueue } from '../../shared/adapters/aws/sqs-poller.ts';
import { KubeHttp } from '../../shared/adapters/k8s/kube-http.ts';
import { KubernetesCluster } from '../../shared/adapters/k8s/kubernetes-cluster.ts';
import { localContext } from '../../shared/adapters/local/event-source.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { runtimeSecretStore } from '../../shared/adapters/runtime-secret-store.ts';
import { optionalEnv, readAwsSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { checkAllDrift, formatDrift } from '../../shared/core/drift.ts';
import { BadInputError } from '../../shared/errors.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';

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
      // Bundles signed by the control plane's KMS key are verified when SLUICE_SIGNING_KEY names it
      // (the regional stack's output); without it this agent applies unsigned work, and says so.
      const signingKey = optionalEnv(SLUICE_ENV.signingKey);
      const log = (line: string) => console.error(`sluice agent: ${line}`);
      const handler = createPipeline(
        {
          ...deps,
          ...(signingKey
            ? {
                verifier: new KmsBundleVerifier({
                  keyId: signingKey,
                  aws: { ...aws, region: signingKey.split(':')[3] || aws.region },
                }),
              }
            : {}),
          // The agent queue's redrive policy parks poison after its receives: the process holds no
          // dead-letter queue URL, so a poison message is left to the queue.
          deadLetters: {
            park: async (_message, reason) => {
              throw new Error(reason);
            },
          },
        },
        { signing: signingKey ? 'required' : 'off', healthDeadlineMs: deps.healthDeadlineMs },
      ).handler('agent');
      const stop = new AbortController();
      if (!signingKey) log(`${SLUICE_ENV.signingKey} is not set: bundle signatures are not checked`);
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
        await pollQueue({
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
