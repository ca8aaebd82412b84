/**
 * peers: Sluice beside the real tools, same corpus, same kube-apiserver, one run.
 *
 * - Sluice: render (shared/core/render-cache.ts over the tools of the kubectl layer, an empty
 *   render cache at first) and the agent's apply (KubernetesCluster.apply: server-side apply in
 *   waves, prune, the inventory ConfigMap).
 * - Flux engine: bench/peers (Go), Flux's kustomize library (generator + SecureBuild) and SSA
 *   engine (ResourceManager.ApplyAllStaged), built from the Go module proxy and cached in
 *   .cache/peers. Helm apps are handed to it as `helm template` output (untimed).
 * - kubectl: `kubectl apply --server-side` per app from the layer Sluice ships (`-k` for
 *   kustomize, `helm template | kubectl apply -f -` for helm, both timed).
 *
 * Each tool gets its own namespace per app (s-, f-, k-) so none applies over another's objects.
 * Apps go 4 at a time for every tool (kustomize-controller's --concurrent default).
 *
 *   npm run bench -- peers              # 1,000 apps
 *   npm run bench -- peers --apps=100   # a quick look (or BENCH_PEERS_APPS=100)
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeHttp } from '../shared/adapters/k8s/kube-http.ts';
import { KubernetesCluster } from '../shared/adapters/k8s/kubernetes-cluster.ts';
import { createDirectoryTree } from '../shared/adapters/local/directory-tree.ts';
import { FileRenderCache } from '../shared/adapters/local/render-cache.ts';
import { ensureTools } from '../shared/adapters/render-tools/layer.ts';
import { createToolRenderer } from '../shared/adapters/render-tools/tool-renderer.ts';
import { renderCached } from '../shared/core/render-cache.ts';
import { startKube } from '../test/support/kube.ts';
import { type CorpusApp, deployment, generateApps } from './lib/app-corpus.ts';
import { emit, note } from './lib/report.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const PEERS_DIR = path.join(ROOT, 'bench', 'peers');
const CACHE = path.join(ROOT, '.cache', 'peers');
const CONCURRENCY = 4;
const run = promisify(execFile);

const appsFlag = process.argv.find((a) => a.startsWith('--apps='))?.slice('--apps='.length);
const APPS = Number(appsFlag ?? process.env.BENCH_PEERS_APPS ?? 1000);
if (!Number.isInteger(APPS) || APPS < 10) {
  console.error(
    `--apps=${appsFlag ?? process.env.BENCH_PEERS_APPS}: give a whole number of apps, at least 10`,
  );
  process.exit(2);
}

/** Builds the Flux peer once per source version (go.mod, go.sum, main.go) into .cache/peers. */
const ensureFluxPeer = async (): Promise<string> => {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(await readFile(path.join(PEERS_DIR, file)));
  const out = path.join(CACHE, `flux-peer-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(out)) return out;
  note(`building the Flux peer (Go module proxy) into ${out}; the first build takes minutes`);
  await mkdir(CACHE, { recursive: true });
  await run('go', ['build', '-trimpath', '-o', `${out}.tmp`, '.'], {
    cwd: PEERS_DIR,
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    maxBuffer: 64 * 1024 * 1024,
  });
  await rename(`${out}.tmp`, out);
  return out;
};

/** Runs `fn` over `items`, `limit` at a time. */
const pool = async <T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) => {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
};

const timed = async (fn: () => Promise<number>): Promise<{ seconds: number; objects: number }> => {
  const started = performance.now();
  const objects = await fn();
  return { seconds: (performance.now() - started) / 1000, objects };
};

/** Writes `stdin` to `bin args`; its stdout, or its stderr as the error when it exits non-zero. */
const pipeInto = (bin: string, args: string[], stdin: string): Promise<string> =>
  new Promise((ok, fail) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0 ? ok(stdout) : fail(new Error(`${bin} ${args.join(' ')}: ${stderr}`)),
    );
    child.stdin.end(stdin);
  });

const main = async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'sluice-bench-peers-'));
  // Every app has a Service, in three namespaces (one per tool): a /16 holds their ClusterIPs.
  const kube = await startKube({ serviceRange: '10.96.0.0/16' });
  try {
    const fluxPeer = await ensureFluxPeer();
    const tools = await ensureTools();
    const repo = path.join(work, 'repo');
    note(`generating ${APPS} apps in ${repo}`);
    const apps = await generateApps(repo, APPS, { overlayNamespace: false });
    const counts = {
      apps: APPS,
      kustomizeApps: apps.filter((a) => a.kind === 'kustomize').length,
      helmApps: apps.filter((a) => a.kind === 'helm').length,
    };
    // The Flux peer writes kustomization.yaml files into plain directories (and puts them back):
    // it gets its own copy, with helm apps as their `helm template` output.
    const fluxRepo = path.join(work, 'flux');
    await cp(repo, fluxRepo, { recursive: true });
    const helmOutput = async (app: CorpusApp, from: string) =>
      (await run(tools.helm, ['template', app.spec.app, path.join(from, app.dir)], { maxBuffer: 1 << 24 }))
        .stdout;
    for (const app of apps.filter((a) => a.kind === 'helm')) {
      const rendered = await helmOutput(app, repo);
      await rm(path.join(fluxRepo, app.dir), { recursive: true });
      await mkdir(path.join(fluxRepo, app.dir));
      await writeFile(path.join(fluxRepo, app.dir, 'all.yaml'), rendered);
    }

    note('creating the namespaces (untimed)');
    const namespaces = apps.flatMap((a) =>
      ['s', 'f', 'k'].map((p) => ({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: `${p}-${a.spec.app}` },
      })),
    );
    const kubectl = (args: string[]): [string, string[]] => [
      tools.kubectl,
      ['--kubeconfig', kube.env.adminKubeconfig, ...args],
    ];
    await pipeInto(
      ...kubectl(['apply', '--server-side', '-f', '-']),
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }),
    );

    // ---- Sluice -----------------------------------------------------------------------------
    const cluster = new KubernetesCluster(KubeHttp.fromFile(kube.env.adminKubeconfig));
    const renderer = createToolRenderer();
    await renderer.versions();
    const deps = { renderer, renderCache: new FileRenderCache(path.join(work, 'render-cache')) };
    const tree = createDirectoryTree(repo);
    const sluiceApply = async (selected: readonly CorpusApp[], generation: number) => {
      let objects = 0;
      await pool(selected, CONCURRENCY, async (app) => {
        const spec = { ...app.spec, namespace: `s-${app.spec.app}` };
        const rendered = (await renderCached(deps, tree, spec)).objects.map((o) => o.object);
        await cluster.apply(app.spec.app, rendered, {
          prune: true,
          inventory: {
            app: app.spec.app,
            generation,
            commit: String(generation).padStart(40, '0'),
            digest: `g${generation}`,
          },
        });
        objects += rendered.length;
      });
      return objects;
    };

    // ---- Flux engine ------------------------------------------------------------------------
    const fluxApply = async (selected: readonly CorpusApp[]) => {
      const list = path.join(work, 'flux-apps.json');
      await writeFile(
        list,
        JSON.stringify(selected.map((a) => ({ name: a.spec.app, dir: a.dir, namespace: `f-${a.spec.app}` }))),
      );
      const { stdout } = await run(
        fluxPeer,
        [
          '-kubeconfig',
          kube.env.adminKubeconfig,
          '-root',
          fluxRepo,
          '-apps',
          list,
          '-concurrency',
          String(CONCURRENCY),
        ],
        { maxBuffer: 1 << 24 },
      );
      return (JSON.parse(stdout) as { objects: number }).objects;
    };

    // ---- kubectl ----------------------------------------------------------------------------
    const kubectlApply = async (selected: readonly CorpusApp[]) => {
      let objects = 0;
      await pool(selected, CONCURRENCY, async (app) => {
        const ns = ['-n', `k-${app.spec.app}`, '--field-manager', 'kubectl-peer'];
        const dir = path.join(repo, app.dir);
        const printed =
          app.kind === 'helm'
            ? await pipeInto(
                ...kubectl(['apply', '--server-side', ...ns, '-f', '-']),
                await helmOutput(app, repo),
              )
            : (
                await run(
                  ...kubectl(['apply', '--server-side', ...ns, app.kind === 'kustomize' ? '-k' : '-f', dir]),
                )
              ).stdout;
        // kubectl prints one line per object it applied.
        objects += printed.trim().split('\n').filter(Boolean).length;
      });
      return objects;
    };

    note(`cold: Sluice render + apply of ${APPS} apps`);
    const sluiceCold = await timed(() => sluiceApply(apps, 1));
    note(`cold: Flux engine (${path.basename(fluxPeer)})`);
    const fluxCold = await timed(() => fluxApply(apps));
    note('cold: kubectl apply --server-side per app');
    const kubectlCold = await timed(() => kubectlApply(apps));

    // One app changes: a new image tag for a plain app, in both checkouts.
    const changed = apps.find((a) => a.kind === 'directory')!;
    for (const base of [repo, fluxRepo])
      await writeFile(path.join(base, changed.dir, 'deployment.yaml'), deployment(changed.spec.app, '1.0.1'));
    // Sluice's planner releases only the app whose paths the commit touched (the monorepo bench
    // measures that choice); Flux re-reconciles every Kustomization of the source whose revision
    // moved; a CI job with path filters runs kubectl for the changed app only.
    note('one app changed: Sluice (the changed app), Flux (every Kustomization), kubectl (the changed app)');
    const sluiceOne = await timed(() => sluiceApply([changed], 2));
    const fluxOne = await timed(() => fluxApply(apps));
    const kubectlOne = await timed(() => kubectlApply([changed]));

    const peers = [
      ['Flux engine (kustomize + ssa ApplyAllStaged)', fluxCold, fluxOne],
      ['kubectl apply --server-side per app', kubectlCold, kubectlOne],
    ] as const;
    for (const [name, cold, one] of peers) {
      emit({
        bench: 'peers',
        figure: `apply ${APPS} apps cold`,
        value: sluiceCold.seconds,
        unit: 's',
        comparison: name,
        comparisonValue: cold.seconds,
        ...counts,
        objects: sluiceCold.objects,
        comparisonObjects: cold.objects,
      });
      emit({
        bench: 'peers',
        figure: `apply with one app changed (of ${APPS})`,
        value: sluiceOne.seconds,
        unit: 's',
        comparison: name,
        comparisonValue: one.seconds,
        ...counts,
        objects: sluiceOne.objects,
        comparisonObjects: one.objects,
      });
      emit({
        bench: 'peers',
        figure: 'objects applied per second, cold',
        value: sluiceCold.objects / sluiceCold.seconds,
        unit: 'objects/s',
        comparison: name,
        comparisonValue: cold.objects / cold.seconds,
        ...counts,
      });
    }
  } finally {
    await kube.stop();
    await rm(work, { recursive: true, force: true });
  }
};

await main();
