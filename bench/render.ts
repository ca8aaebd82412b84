/**
 * render: throughput of rendering a generated 1,000-app config repo (plain YAML, kustomize
 * overlays and helm charts), cold (empty render cache) and cached, and of the policy pack over
 * every rendered object. The peer, measured in the same run on the same apps, is the tool run
 * directly: `kubectl kustomize DIR` / `helm template NAME DIR` once per app, as a CI script or a
 * GitOps controller without a content cache would. Prints JSON lines on stdout in the shape every
 * bench shares (bench/lib/report.ts).
 *
 *   npm run bench:render                 # 1,000 apps
 *   BENCH_RENDER_APPS=200 npm run bench:render
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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
import { type AppKind, generateApps } from './lib/app-corpus.ts';
import { emit, note } from './lib/report.ts';

const APPS = Number(process.env.BENCH_RENDER_APPS ?? 1000);

const run = promisify(execFile);
const round = (n: number) => Math.round(n * 10) / 10;

const main = async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'sluice-bench-render-'));
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'sluice-bench-render-cache-'));
  try {
    note(`generating ${APPS} apps in ${root}`);
    const apps = await generateApps(root, APPS);
    const tools = await ensureTools();
    const renderer = createToolRenderer();
    const deps = { renderer, renderCache: new FileRenderCache(cacheDir) };
    const tree = createDirectoryTree(root);
    await renderer.versions();

    const pass = async () => {
      const rendered: RenderedObject[][] = [];
      const ms: Record<AppKind, number> = { directory: 0, kustomize: 0, helm: 0 };
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
    const coldSeconds = cold.ms / 1000;
    const cachedSeconds = cached.ms / 1000;
    emit({
      bench: 'render',
      figure: `render ${APPS} apps cold (empty render cache)`,
      value: coldSeconds,
      unit: 's',
      comparison: 'the same apps from the render cache',
      comparisonValue: cachedSeconds,
      ...counts,
      appsPerSec: round(APPS / coldSeconds),
      objectsPerSec: round(objects / coldSeconds),
    });
    const peer = 'kubectl kustomize / helm template run directly per app';
    const peerRate = peerObjects / (peerMs / 1000);
    emit({
      bench: 'render',
      figure: 'kustomize and helm apps rendered per second, cold',
      value: toolObjects / (toolColdMs / 1000),
      unit: 'objects/s',
      comparison: peer,
      comparisonValue: peerRate,
      apps: toolApps.length,
      objects: toolObjects,
    });
    emit({
      bench: 'render',
      figure: 'kustomize and helm apps rendered per second, cached',
      value: toolCachedMs === 0 ? 0 : toolObjects / (toolCachedMs / 1000),
      unit: 'objects/s',
      comparison: peer,
      comparisonValue: peerRate,
      apps: toolApps.length,
      objects: toolObjects,
    });

    const all = cold.rendered.flat();
    const reps = Math.max(1, Math.ceil(200_000 / all.length));
    const policyStart = performance.now();
    for (let i = 0; i < reps; i += 1) checkPolicies(all, []);
    const policyMs = performance.now() - policyStart;
    // Policy layers are compared with rendering the same objects (cold): what checking adds.
    const renderRate = objects / coldSeconds;
    const policyLine = (figure: string, objectsPerSec: number, extra: Record<string, unknown>) =>
      emit({
        bench: 'render',
        figure,
        value: objectsPerSec,
        unit: 'objects/s',
        comparison: 'render cold, same objects',
        comparisonValue: renderRate,
        ...extra,
      });
    policyLine('policy: built-in pack', (all.length * reps) / (policyMs / 1000), {
      objects: all.length * reps,
    });
    // The other layers: OpenAPI schemas (1.34) and the CEL policies of examples/policy-violations.
    const schemas = (await fileK8sSchemas().load('1.34'))!;
    const layerReps = Math.max(1, Math.ceil(50_000 / all.length));
    const timed = (check: () => unknown) => {
      const start = performance.now();
      for (let i = 0; i < layerReps; i += 1) check();
      return (all.length * layerReps) / ((performance.now() - start) / 1000);
    };
    policyLine(
      'policy: schema (Kubernetes 1.34 OpenAPI)',
      timed(() => checkSchemas(all, { schemas, crds: new Map() })),
      { objects: all.length * layerReps },
    );
    const examples = path.resolve(import.meta.dirname, '../examples/policy-violations');
    const admission = await loadAdmission(createDirectoryTree(examples), ['policies']);
    policyLine(
      'policy: ValidatingAdmissionPolicy set (CEL, examples/policy-violations)',
      timed(() => checkAdmission(admission, all, { schemas, crds: new Map() })),
      { bindings: admission.bindings.length, objects: all.length * layerReps },
    );
  } finally {
    await rm(root, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  }
};

await main();
