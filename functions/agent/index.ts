/** Lambda entry point: a region's agent on AWS adapters, built once per cold start. */
import { KmsSopsDecrypter } from '../../shared/adapters/aws/kms-sops-decrypter.ts';
import { SqsDeadLetters } from '../../shared/adapters/aws/sqs-dead-letters.ts';
import { SqsHealthRechecks } from '../../shared/adapters/aws/sqs-delayed.ts';
import { eksKubeHttp } from '../../shared/adapters/k8s/eks.ts';
import {
  clusterSecretRef,
  RefreshingCluster,
  SecretKubeconfigCluster,
} from '../../shared/adapters/k8s/secret-kubeconfig.ts';
import { runtimeSecretStore } from '../../shared/adapters/runtime-secret-store.ts';
import { readEksClusters, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import type { ClusterClient } from '../../shared/ports/index.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { aws, bundles, bus, clock, deadLetters, signing } from '../commons/aws.ts';

// aws-sm:// references (and the kubeconfigs) in Secrets Manager; vault:// when VAULT_ADDR is set.
const secrets = runtimeSecretStore();
const eksClusters = readEksClusters();
const eks = eksKubeHttp({ aws });

/**
 * One client per target: EKS targets through IAM (a fresh token every 10 minutes; EKS accepts one
 * for 15), the others with their kubeconfig from Secrets Manager (sluice/clusters/<target>).
 */
const clusters = new Map<string, ClusterClient>();
const cluster = (target: string): ClusterClient => {
  let client = clusters.get(target);
  if (client === undefined) {
    const eksName = eksClusters[target];
    client =
      eksName === undefined
        ? new SecretKubeconfigCluster(secrets, clusterSecretRef(target))
        : new RefreshingCluster(() => eks(eksName), { ttlMs: 10 * 60_000 });
    clusters.set(target, client);
  }
  return client;
};

/**
 * The region's health queue (a standard queue, SLUICE_HEALTH_QUEUE_URL): the agent looks at a
 * rollout's health once after applying and schedules the next look there instead of waiting, so
 * the function is billed for applying, not for the rollout. Its poison goes to its own DLQ.
 */
const healthQueueUrl = process.env[SLUICE_ENV.healthQueueUrl];
const healthDlqUrl = process.env[SLUICE_ENV.healthDeadLetterQueueUrl];
const healthQueueName = healthQueueUrl?.split('/').at(-1);
const parking =
  healthDlqUrl && healthQueueName
    ? new SqsDeadLetters({
        queueUrlFor: (source) =>
          source.endsWith(`:${healthQueueName}`) ? healthDlqUrl : requireEnv(SLUICE_ENV.deadLetterQueueUrl),
        aws,
      })
    : deadLetters();

export const handler = createPipeline(
  {
    clock,
    bus: bus(),
    bundles: bundles(),
    cluster,
    secrets,
    // SOPS files: age identities at sluice/sops-age-key in Secrets Manager, AWS KMS keys via Decrypt.
    sops: { kms: new KmsSopsDecrypter({ aws }) },
    deadLetters: parking,
    ...(healthQueueUrl
      ? { healthRechecks: new SqsHealthRechecks({ queueUrl: healthQueueUrl, clock, aws }) }
      : {}),
    ...signing.verifier(),
  },
  {
    ...signing.options,
    // Below the function's 5-minute timeout, so a stuck rollout is reported Failed, not retried to
    // the DLQ (waits between sync waves still happen in the function; re-checks have no such bound).
    healthDeadlineMs: 4 * 60_000,
  },
).handler('agent');
