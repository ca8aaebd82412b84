/**
 * ManifestRenderer over the real binaries: `kubectl kustomize` and `helm template`. Everything
 * they read comes from a config repository, which is attacker-controlled, so each run:
 * - gets repo-derived values only as checked absolute paths or after `--`, never as flags;
 * - runs kustomize with `--load-restrictor LoadRestrictionsRootOnly` and no plugins, exec
 *   functions or helm inflation (their flags stay at their `false` defaults);
 * - runs in a fresh scratch directory that is its HOME, XDG and helm homes, with an empty PATH
 *   (kustomize finds no `git` to clone with) and proxies that point nowhere, so no HTTP fetch
 *   leaves the host: a chart from a repository is fetched by chart-fetch.ts (checked against its
 *   recorded digest, cached by it) and helm templates that local archive;
 * - runs in its own process group under `ulimit -v`; on timeout or an output bound the whole
 *   group is killed (`process.kill(-pid)`), grandchildren included.
 * Before a run every input directory is walked and a symlink that resolves outside the
 * checkout is refused, since the tools would follow it.
 */
import { spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_TOOL_LIMITS } from '../../core/render-limits.ts';
import type { ManifestRenderer, ToolResult } from '../../ports/index.ts';
import { fetchChart } from './chart-fetch.ts';
import { defaultToolCacheDir, ensureTools, type ToolPaths } from './layer.ts';

export interface ToolRendererOptions {
  /** Where the layer is unpacked (default `.cache/tools` of the Sluice checkout). */
  readonly cacheDir?: string;
  /** Explicit binaries, e.g. `/opt/kubectl/kubectl` and `/opt/helm/helm` inside Lambda. */
  readonly binaries?: { kubectl: string; helm: string };
  /** Kill a tool run (its whole process group) that runs longer than this (default 60 s). */
  readonly timeoutMs?: number;
  /** Virtual memory of one tool run, as `ulimit -v` sets it (default 2 GiB; Go needs ~0.8 GiB to start). */
  readonly memoryBytes?: number;
  /** Stdout of one tool run; more is a render too large (default 32 MiB). */
  readonly maxOutputBytes?: number;
  /** Parent of each run's scratch directory (default the OS temp directory: /tmp in Lambda). */
  readonly scratchDir?: string;
  /**
   * Where repository charts are kept by digest (default `<scratchDir>/sluice-charts`): the
   * workdir locally, /tmp in Lambda. A chart found here is rendered with no network.
   */
  readonly chartCacheDir?: string;
  /**
   * Hosts (`host[:port]`) a repository's index may point chart archives at besides its own
   * (default: SLUICE_CHART_HOSTS, comma-separated).
   */
  readonly allowedChartHosts?: readonly string[];
  /** Bound of one chart download, and of one chart unpacked (defaults 20 MiB and 100 MiB). */
  readonly maxChartBytes?: number;
  readonly maxChartUnpackedBytes?: number;
}

/** Proxies that refuse every connection: Go's HTTP client (helm, kustomize) honours them. */
const NO_NETWORK = {
  HTTP_PROXY: 'http://127.0.0.1:9',
  HTTPS_PROXY: 'http://127.0.0.1:9',
  ALL_PROXY: 'http://127.0.0.1:9',
  http_proxy: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  NO_PROXY: '',
  no_proxy: '',
};

/** What a Go binary prints when `ulimit -v` stops an allocation. */
const OUT_OF_MEMORY = /out of memory|cannot allocate memory|failed to reserve|mmap.*errno 12/i;
const MAX_STDERR = 64 * 1024;

const isInside = (root: string, candidate: string): boolean =>
  candidate === root || candidate.startsWith(`${root}${path.sep}`);

/**
 * The first symlink under `dir` whose target leaves `root`, as a repo-relative path. Each real
 * directory is walked once, so directory links that loop (possible in a plain directory given to
 * `sluice render`; git checkouts refuse them) end the walk instead of recursing forever.
 */
const escapingLink = async (
  root: string,
  dir: string,
  seen: Set<string> = new Set(),
): Promise<string | undefined> => {
  const realDir = await realpath(dir).catch(() => dir);
  if (seen.has(realDir)) return undefined;
  seen.add(realDir);
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) {
      const real = await realpath(full).catch(() => undefined);
      if (real === undefined || !isInside(root, real)) return path.relative(root, full);
      if ((await lstat(real)).isDirectory()) {
        const found = await escapingLink(root, real, seen);
        if (found) return found;
      }
    } else if (entry.isDirectory() && entry.name !== '.git') {
      const found = await escapingLink(root, full, seen);
      if (found) return found;
    }
  }
  return undefined;
};

/** `root/rel` as an absolute path, refused unless it stays inside `root`. */
const inside = (root: string, rel: string): string | undefined => {
  const full = path.resolve(root, rel);
  return isInside(root, full) ? full : undefined;
};

export const createToolRenderer = (options: ToolRendererOptions = {}): ManifestRenderer => {
  const cacheDir = options.cacheDir ?? defaultToolCacheDir();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TOOL_LIMITS.timeoutMs;
  const memoryBytes = options.memoryBytes ?? DEFAULT_TOOL_LIMITS.memoryBytes;
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_TOOL_LIMITS.maxOutputBytes;
  const tools = (): Promise<Pick<ToolPaths, 'kubectl' | 'helm'>> =>
    options.binaries ? Promise.resolve(options.binaries) : ensureTools(cacheDir);

  /** A fresh directory for one run: HOME, XDG and helm homes, an empty PATH; removed after. */
  const withScratch = async <T>(work: (scratch: string, env: NodeJS.ProcessEnv) => Promise<T>) => {
    const parent = options.scratchDir ?? tmpdir();
    await mkdir(parent, { recursive: true });
    const scratch = await mkdtemp(path.join(parent, 'sluice-render-'));
    try {
      for (const dir of ['bin', 'config', 'cache', 'data', 'plugins']) await mkdir(path.join(scratch, dir));
      const env: NodeJS.ProcessEnv = {
        PATH: path.join(scratch, 'bin'),
        HOME: scratch,
        TMPDIR: scratch,
        XDG_CONFIG_HOME: path.join(scratch, 'config'),
        XDG_CACHE_HOME: path.join(scratch, 'cache'),
        XDG_DATA_HOME: path.join(scratch, 'data'),
        KUBECONFIG: path.join(scratch, 'no-kubeconfig'),
        HELM_CACHE_HOME: path.join(scratch, 'cache', 'helm'),
        HELM_CONFIG_HOME: path.join(scratch, 'config', 'helm'),
        HELM_DATA_HOME: path.join(scratch, 'data', 'helm'),
        HELM_PLUGINS: path.join(scratch, 'plugins'),
        KUSTOMIZE_PLUGIN_HOME: path.join(scratch, 'plugins'),
        LANG: 'C',
        ...NO_NETWORK,
      };
      return await work(scratch, env);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  };

  /**
   * Runs `file args` in its own process group under `ulimit -v`, collecting at most
   * maxOutputBytes of stdout; the group is killed on timeout, on too much output, and after exit.
   */
  const run = (
    file: string,
    args: readonly string[],
    cwd: string,
    env: NodeJS.ProcessEnv,
    hide: readonly string[] = [],
  ): Promise<ToolResult> =>
    new Promise((resolve) => {
      const tool = path.basename(file);
      const child = spawn(
        '/bin/sh',
        [
          '-c',
          'ulimit -v "$1" || exit 125; shift; exec "$@"',
          'sluice-limit',
          String(Math.floor(memoryBytes / 1024)),
          file,
          ...args,
        ],
        { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const killGroup = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // the group is already gone
        }
      };
      let stopped: ToolResult | undefined;
      const stop = (result: ToolResult) => {
        stopped ??= result;
        killGroup();
      };
      const timer = setTimeout(
        () =>
          stop({
            ok: false,
            reason: 'timeout',
            message: `${tool} did not finish within ${timeoutMs / 1000} s`,
          }),
        timeoutMs,
      );
      const out: Buffer[] = [];
      let outBytes = 0;
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        outBytes += chunk.length;
        if (outBytes > maxOutputBytes) {
          stop({
            ok: false,
            reason: 'failed',
            message: `${tool} wrote more than ${maxOutputBytes} bytes, the limit of rendered output per tool run; split the app, or the operator raises SLUICE_RENDER_MAX_RENDERED_BYTES`,
          });
        } else if (!stopped) out.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        if (err.length < MAX_STDERR) err += chunk.toString('utf8');
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        stop({ ok: false, reason: 'failed', message: `${tool} could not start: ${error.message}` });
        resolve(stopped!);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        killGroup(); // anything the tool left behind in its group
        if (stopped) return resolve(stopped);
        if (code === 0) return resolve({ ok: true, stdout: Buffer.concat(out).toString('utf8') });
        let message = err.trim() || `${tool} exited with ${signal ?? `code ${code}`}`;
        for (const dir of [cwd, ...hide])
          message = message.replaceAll(`${dir}${path.sep}`, '').replaceAll(dir, '.');
        if (OUT_OF_MEMORY.test(message)) {
          return resolve({
            ok: false,
            reason: 'failed',
            message: `${tool} ran out of memory at the limit of ${Math.round(memoryBytes / 1024 / 1024)} MiB per tool run; split the app, or the operator raises SLUICE_RENDER_MEMORY_MB`,
          });
        }
        resolve({ ok: false, reason: 'failed', message: message.split('\n').slice(0, 20).join('\n') });
      });
    });

  const refuseLinks = async (root: string, inputs: readonly string[]): Promise<ToolResult | undefined> => {
    const realRoot = await realpath(root);
    for (const input of inputs) {
      const real = await realpath(path.join(realRoot, input)).catch(() => undefined);
      const link =
        real !== undefined && !isInside(realRoot, real)
          ? input
          : await escapingLink(realRoot, path.join(realRoot, input));
      if (link) {
        return {
          ok: false,
          reason: 'refused',
          message: `${link} is a symlink that resolves outside the repository; replace it with a regular file`,
        };
      }
    }
    return undefined;
  };

  const outside = (what: string, value: string): ToolResult => ({
    ok: false,
    reason: 'refused',
    message: `${what} ${JSON.stringify(value)} is outside the repository`,
  });

  let versions: Promise<string> | undefined;
  return {
    versions() {
      versions ??= withScratch(async (scratch, env) => {
        const { kubectl, helm } = await tools();
        const k = await run(kubectl, ['version', '--client', '-o', 'json'], scratch, env);
        const h = await run(helm, ['version', '--template', '{{.Version}}'], scratch, env);
        if (!k.ok || !h.ok)
          throw new Error(`render tools do not run: ${k.ok ? '' : k.message} ${h.ok ? '' : h.message}`);
        const info = JSON.parse(k.stdout) as {
          clientVersion?: { gitVersion?: string };
          kustomizeVersion?: string;
        };
        return `kubectl ${info.clientVersion?.gitVersion}, kustomize ${info.kustomizeVersion}, helm ${h.stdout.trim()}`;
      });
      versions.catch(() => {
        versions = undefined;
      });
      return versions;
    },

    async kustomize({ root, dir, inputs }) {
      const refused = await refuseLinks(root, inputs);
      if (refused) return refused;
      const realRoot = await realpath(root);
      const target = inside(realRoot, dir);
      if (!target) return outside('kustomization directory', dir);
      const { kubectl } = await tools();
      return withScratch((scratch, env) =>
        run(
          kubectl,
          ['kustomize', '--load-restrictor', 'LoadRestrictionsRootOnly', '--', target],
          realRoot,
          env,
          [scratch],
        ),
      );
    },

    async helmTemplate(request) {
      const refused = await refuseLinks(request.root, request.inputs);
      if (refused) return refused;
      const realRoot = await realpath(request.root);
      const valueFiles: string[] = [];
      for (const file of request.valueFiles) {
        const full = inside(realRoot, file);
        if (!full) return outside('values file', file);
        valueFiles.push(full);
      }
      let chart: string;
      if (request.repo) {
        const fetched = await fetchChart(request.repo, {
          cacheDir: options.chartCacheDir ?? path.join(options.scratchDir ?? tmpdir(), 'sluice-charts'),
          // The operator's list (never sluice.yaml's): the option, else SLUICE_CHART_HOSTS.
          allowedHosts:
            options.allowedChartHosts ?? (process.env.SLUICE_CHART_HOSTS ?? '').split(',').filter(Boolean),
          ...(options.maxChartBytes ? { maxDownloadBytes: options.maxChartBytes } : {}),
          ...(options.maxChartUnpackedBytes ? { maxUnpackedBytes: options.maxChartUnpackedBytes } : {}),
        });
        if (!fetched.ok) return { ok: false, reason: 'refused', message: fetched.message, fix: fetched.fix };
        chart = fetched.file;
      } else {
        const full = inside(realRoot, request.chart ?? '.');
        if (!full) return outside('chart directory', request.chart ?? '.');
        chart = full;
      }
      const { helm } = await tools();
      return withScratch(async (scratch, env) => {
        // Sluice's values go through a generated file, not --set, so commas and dots in values
        // stay literal; it is layered last, as helm layers -f files in order.
        const valuesFile = path.join(scratch, 'sluice-values.json');
        // `wx`: a fresh file in the fresh scratch directory, never through a name already there.
        await writeFile(valuesFile, JSON.stringify(request.values), { flag: 'wx', mode: 0o600 });
        const flags: string[] = [];
        if (request.namespace) flags.push('--namespace', request.namespace);
        if (request.includeCrds) flags.push('--include-crds');
        for (const file of valueFiles) flags.push('--values', file);
        flags.push('--values', valuesFile);
        // Repo-derived names come after `--`: helm reads them as the release name and chart only.
        return run(helm, ['template', ...flags, '--', request.releaseName, chart], realRoot, env, [scratch]);
      });
    },
  };
};
