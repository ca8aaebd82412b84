/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { readAwsSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { ConfigError } from '../../shared/errors.ts';
import type { ClusterClient } from '../../shared/ports/index.ts';
import { createAgentHandler } from './handler.ts';

const aws = readAwsSettings();
// Bundles live in the management region, which may not be this one.
const bucketAws = { ...aws, region: requireEnv(SLUICE_ENV.bucketRegion) };

/** No Kubernetes ClusterClient exists yet (shared/adapters/k8s); until it does, work is parked with this reason. */
const cluster = (target: string): ClusterClient => {
  throw new ConfigError(
    'agent',
    `targets.${target}`,
    'the Lambda agent has no Kubernetes client yet, so it cannot apply to an EKS cluster',
    'run `sluice agent` in the cluster (agent: in-cluster) until shared/adapters/k8s lands',
  );
};

export const handler = createAgentHandler({
  bundles: new S3BundleStore({ bucket: requireEnv(SLUICE_ENV.bucket), aws: bucketAws }),
  cluster,
  secrets: new SecretsManagerStore({ aws }),
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  clock: systemClock,
});
