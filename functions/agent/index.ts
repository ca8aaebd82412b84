/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { eksKubeHttp } from '../../shared/adapters/k8s/eks.ts';
import {
  clusterSecretRef,
  RefreshingCluster,
  SecretKubeconfigCluster,
} from '../../shared/adapters/k8s/secret-kubeconfig.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { runtimeSecretStore } from '../../shared/adapters/runtime-secret-store.ts';
import { readAwsSettings, readEksClusters, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import type { ClusterClient } from '../../shared/ports/index.ts';
import { createAgentHandler } from './handler.ts';

const aws = readAwsSettings();
// aws-sm:// references (and the kubeconfigs) in Secrets Manager; vault:// when VAULT_ADDR is set.
const secrets = runtimeSecretStore();
// Bundles live in the management region, which may not be this one.
const bucketAws = { ...aws, region: requireEnv(SLUICE_ENV.bucketRegion) };

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

export const handler = createAgentHandler({
  bundles: new S3BundleStore({ bucket: requireEnv(SLUICE_ENV.bucket), aws: bucketAws }),
  cluster,
  secrets,
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  clock: systemClock,
  // Below the function's 5-minute timeout, so a stuck rollout is reported Failed, not retried to the DLQ.
  healthDeadlineMs: 4 * 60_000,
});
