/** Lambda entry point: a region's agent on AWS adapters, built once per cold start. */
import { KmsSopsDecrypter } from '../../shared/adapters/aws/kms-sops-decrypter.ts';
import { eksKubeHttp } from '../../shared/adapters/k8s/eks.ts';
import {
  clusterSecretRef,
  RefreshingCluster,
  SecretKubeconfigCluster,
} from '../../shared/adapters/k8s/secret-kubeconfig.ts';
import { runtimeSecretStore } from '../../shared/adapters/runtime-secret-store.ts';
import { readEksClusters } from '../../shared/config/env.ts';
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

export const handler = createPipeline(
  {
    clock,
    bus: bus(),
    bundles: bundles(),
    cluster,
    secrets,
    // SOPS files: age identities at sluice/sops-age-key in Secrets Manager, AWS KMS keys via Decrypt.
    sops: { kms: new KmsSopsDecrypter({ aws }) },
    deadLetters: deadLetters(),
    ...signing.verifier(),
  },
  {
    ...signing.options,
    // Below the function's 5-minute timeout, so a stuck rollout is reported Failed, not retried to the DLQ.
    healthDeadlineMs: 4 * 60_000,
  },
).handler('agent');
