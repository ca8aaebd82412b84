/** Lambda entry point: the render stage on AWS adapters, built once per cold start. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { FileRenderCache } from '../../shared/adapters/local/render-cache.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { readGitSettings, readRenderLimits, requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { bundles, bus, clock, deadLetters, git, ledger, statusProvider } from '../commons/aws.ts';

const scratch = readGitSettings().cacheDir;
// SLUICE_RENDER_* bounds of this function (docs/security.md#limits); sluice.yaml cannot raise them.
const limits = readRenderLimits();

export const handler = createPipeline({
  clock,
  bus: bus(),
  ledger: ledger(),
  bundles: bundles(),
  git: git(),
  deadLetters: deadLetters(),
  // kubectl (kustomize built in) and helm from the KubectlV34 layer; helm's homes under /tmp.
  renderer: createToolRenderer({
    cacheDir: join(scratch, 'tools'),
    binaries: { kubectl: requireEnv(SLUICE_ENV.kubectl), helm: requireEnv(SLUICE_ENV.helm) },
    ...limits.tools,
  }),
  renderLimits: limits.render,
  // Render outputs by content key under /tmp: a warm function renders an unchanged app once.
  renderCache: new FileRenderCache(join(scratch, 'render')),
  // The vendored Kubernetes OpenAPI schemas, copied next to the bundle by the stack.
  schemas: fileK8sSchemas(fileURLToPath(new URL('./k8s-schemas', import.meta.url))),
  ...(await statusProvider()),
}).handler('render');
