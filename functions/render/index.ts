/** Lambda entry point: deps are built once per cold start from the environment the stack sets. */
import { fileURLToPath } from 'node:url';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { readAwsSettings, readGitSettings, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { createRenderHandler } from './handler.ts';

const aws = readAwsSettings();
const git = readGitSettings();
const bucket = requireEnv(SLUICE_ENV.bucket);

export const handler = createRenderHandler({
  git: createGitSource({ cacheDir: git.cacheDir, auth: git.auth(new SecretsManagerStore({ aws })) }),
  ledger: new S3Ledger({ bucket, aws }),
  bundles: new S3BundleStore({ bucket, aws }),
  bus: new EventBridgeBus({ busName: requireEnv(SLUICE_ENV.busName), aws }),
  clock: systemClock,
  // kubectl (kustomize built in) and helm from the KubectlV34 layer; helm's homes under /tmp.
  renderer: createToolRenderer({
    cacheDir: `${git.cacheDir}/tools`,
    binaries: { kubectl: requireEnv(SLUICE_ENV.kubectl), helm: requireEnv(SLUICE_ENV.helm) },
  }),
  // The vendored Kubernetes OpenAPI schemas, copied next to the bundle by the stack.
  schemas: fileK8sSchemas(fileURLToPath(new URL('./k8s-schemas', import.meta.url))),
});
