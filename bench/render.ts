/**
 * render: throughput of rendering a generated 1,000-app config repo (plain YAML, kustomize
 * overlays and helm charts), cold (empty render cache) and cached, and of the policy pack over
 * every rendered object. The peer, measured in the same run on the same apps, is the tool run
 * directly: `kubectl kustomize DIR` / `helm template NAME DIR` once per app, as a CI script or a
 * GitOps controller without a content cache would. Prints JSON lines on stdout.
 *
 *   npm run bench:render                 # 1,000 apps
 *   BENCH_RENDER_APPS=200 npm run bench:render
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createDirectoryTree } from '../shared/adapters/local/directory-tree.ts';
import { fileK8sSchemas } from '../shared/adapters/local/k8s-schemas.ts';
import { FileRenderCache } from '../shared/adapters/local/render-cache.ts';
import { ensureTools } from '../shared/adapters/render-tools/layer.ts';
import { createToolRenderer } from '../shared/adapters/render-tools/tool-renderer.ts';
import { checkAdmission, loadAdmission } from '../shared/core/admission.ts';
import { checkPolicies } from '../shared/core/policy.ts';
import type { RenderedObject } from '../shared/core/render.ts';
import { renderCached } from '../shared/core/render-cache.ts';
import { checkSchemas } from '../shared/core/schema-validation.ts';
import type { RenderSpec } from '../shared/schemas/events.ts';

const APPS = Number(process.env.BENCH_RENDER_APPS ?? 1000);
/** Share of apps per kind: most monorepo apps are plain YAML; a fifth kustomize, a tenth helm. */
const KUSTOMIZE_EVERY = 5;
const HELM_EVERY = 10;

const run = promisify(execFile);
const line = (figure: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ bench: 'render', ...figure })}\n`);
const note = (message: string) => process.stderr.write(`  ${message}\n`);
const round = (n: number) => Math.round(n * 10) / 10;

const deployment = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  replicas: 2
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/${name}:1.0.0
          resources: { requests: { cpu: 100m, memory: 128Mi }, limits: { cpu: 500m, memory: 256Mi } }
`;
const service = (name: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: { selector: { app: ${name} }, ports: [{ port: 80 }] }\n`;
const configMap = (name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name}-config }\ndata: { LEVEL: info }\n`;

type Kind = 'directory' | 'kustomize' | 'helm';
const kindOf = (i: number): Kind =>
  i % HELM_EVERY === 1 ? 'helm' : i % KUSTOMIZE_EVERY === 0 ? 'kustomize' : 'directory';

const generate = async (root: string): Promise<{ spec: RenderSpec; kind: Kind; dir: string }[]> => {
  const apps: { spec: RenderSpec; kind: Kind; dir: string }[] = [];
  for (let i = 0; i < APPS; i += 1) {
    const name = `app-${String(i).padStart(4, '0')}`;
    const dir = `apps/${name}`;
    const put = async (file: string, text: string) => {
      await mkdir(path.dirname(path.join(root, dir, file)), { recursive: true });
      await writeFile(path.join(root, dir, file), text);
    };
    const kind = kindOf(i);
    const spec: RenderSpec = {
      app: name,
      path: dir,
      values: {},
      disabledPolicies: [],
      sync: { prune: true, selfHeal: false },
      kind,
    };
    if (kind === 'kustomize') {
      await put('base/deployment.yaml', deployment(name));
      await put('base/service.yaml', service(name));
      await put('base/kustomization.yaml', 'resources: [deployment.yaml, service.yaml]\n');
      await put(
        'overlays/prod/kustomization.yaml',
        `resources: [../../base]\nnamespace: ${name}\nconfigMapGenerator: [{ name: ${name}-config, literals: [LEVEL=info] }]\nreplicas: [{ name: ${name}, count: 3 }]\n`,
      );
      spec.overlay = 'overlays/prod';
      apps.push({ spec, kind, dir: `${dir}/overlays/prod` });
    } else if (kind === 'helm') {
      await put('Chart.yaml', `apiVersion: v2\nname: ${name}\nversion: 0.1.0\n`);
      await put('values.yaml', 'replicas: 2\n');
      await put(
        'templates/deployment.yaml',
        deployment('{{ .Release.Name }}').replace('replicas: 2', 'replicas: {{ .Values.replicas }}'),
      );
      await put('templates/service.yaml', service('{{ .Release.Name }}'));
      await put('templates/configmap.yaml', configMap('{{ .Release.Name }}'));
      apps.push({ spec, kind, dir });
    } else {
      await put('deployment.yaml', deployment(name));
      await put('service.yaml', service(name));
      await put('configmap.yaml', configMap(name));
      apps.push({ spec, kind, dir });
    }
  }
  return apps;
};

const main = async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'sluice-bench-render-'));
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'sluice-bench-render-cache-'));
  try {
    note(`generating ${APPS} apps in ${root}`);
    const apps = await generate(root);
    const tools = await ensureTools();
    const renderer = createToolRenderer();
    const deps = { renderer, renderCache: new FileRenderCache(cacheDir) };
    const tree = createDirectoryTree(root);
    await renderer.versions();

    const pass = async () => {
      const rendered: RenderedObject[][] = [];
      const ms: Record<Kind, number> = { directory: 0, kustomize: 0, helm: 0 };
      const started = performance.now();
      for (const app of apps) {
        const t = performance.now();
        rendered.push((await renderCached(deps, tree, app.spec)).objects);
        ms[app.kind] += performance.now() - t;
      }
      return { rendered, ms: performance.now() - started, byKind: ms };
    };
    note('cold render (empty cache)');
    const cold = await pass();
    note('cached render');
    const cached = await pass();
    const objects = cold.rendered.reduce((n, r) => n + r.length, 0);

    note('peer: the tools run directly, once per kustomize and helm app');
    const toolApps = apps.filter((a) => a.kind !== 'directory');
    let peerObjects = 0;
    const peerStart = performance.now();
    for (const app of toolApps) {
      const { stdout } =
        app.kind === 'kustomize'
          ? await run(tools.kubectl, ['kustomize', path.join(root, app.dir)])
          : await run(tools.helm, ['template', app.spec.app, path.join(root, app.dir)]);
      peerObjects += stdout.split(/^kind: /m).length - 1;
    }
    const peerMs = performance.now() - peerStart;
    const toolIdx = apps.flatMap((a, i) => (a.kind === 'directory' ? [] : [i]));
    const toolObjects = toolIdx.reduce((n, i) => n + cached.rendered[i]!.length, 0);
    const toolCachedMs = cached.byKind.kustomize + cached.byKind.helm;
    const toolColdMs = cold.byKind.kustomize + cold.byKind.helm;

    const counts = {
      apps: APPS,
      kustomizeApps: apps.filter((a) => a.kind === 'kustomize').length,
      helmApps: apps.filter((a) => a.kind === 'helm').length,
      objects,
    };
    line({
      figure: 'render cold',
      ...counts,
      seconds: round(cold.ms / 1000),
      appsPerSec: round(APPS / (cold.ms / 1000)),
      objectsPerSec: round(objects / (cold.ms / 1000)),
    });
    line({
      figure: 'render cached',
      ...counts,
      seconds: round(cached.ms / 1000),
      appsPerSec: round(APPS / (cached.ms / 1000)),
      objectsPerSec: round(objects / (cached.ms / 1000)),
    });
    line({
      figure: 'tool apps: sluice cold vs cached vs tools run directly',
      apps: toolApps.length,
      objects: toolObjects,
      sluiceColdObjectsPerSec: round(toolObjects / (toolColdMs / 1000)),
      sluiceCachedObjectsPerSec: round(toolObjects / (toolCachedMs / 1000)),
      peer: 'kubectl kustomize / helm template per app',
      peerObjectsPerSec: round(peerObjects / (peerMs / 1000)),
      cachedSpeedup: round(toolCachedMs === 0 ? 0 : peerMs / toolCachedMs),
    });

    const all = cold.rendered.flat();
    const reps = Math.max(1, Math.ceil(200_000 / all.length));
    const policyStart = performance.now();
    for (let i = 0; i < reps; i += 1) checkPolicies(all, []);
    const policyMs = performance.now() - policyStart;
    line({
      figure: 'policy: built-in pack',
      objects: all.length * reps,
      objectsPerSec: round((all.length * reps) / (policyMs / 1000)),
    });
    // The other layers: OpenAPI schemas (1.34) and the CEL policies of examples/policy-violations.
    const schemas = (await fileK8sSchemas().load('1.34'))!;
    const layerReps = Math.max(1, Math.ceil(50_000 / all.length));
    const timed = (check: () => unknown) => {
      const start = performance.now();
      for (let i = 0; i < layerReps; i += 1) check();
      return round((all.length * layerReps) / ((performance.now() - start) / 1000));
    };
    line({
      figure: 'policy: schema (Kubernetes 1.34 OpenAPI)',
      objects: all.length * layerReps,
      objectsPerSec: timed(() => checkSchemas(all, { schemas, crds: new Map() })),
    });
    const examples = path.resolve(import.meta.dirname, '../examples/policy-violations');
    const admission = await loadAdmission(createDirectoryTree(examples), ['policies']);
    line({
      figure: 'policy: ValidatingAdmissionPolicy set (CEL, examples/policy-violations)',
      bindings: admission.bindings.length,
      objects: all.length * layerReps,
      objectsPerSec: timed(() => checkAdmission(admission, all, { schemas, crds: new Map() })),
    });
  } finally {
    await rm(root, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  }
};

await main();
