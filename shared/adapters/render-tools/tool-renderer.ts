/**
 * ManifestRenderer over the real binaries: `kubectl kustomize` and `helm template`, run with a
 * time bound, a clean environment (no kubeconfig, no cloud credentials, helm's homes under the
 * tool cache) and the checkout as working directory. Before a run every input directory is
 * walked and a symlink that resolves outside the checkout is refused, since the tools would
 * follow it.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ManifestRenderer, ToolResult } from '../../ports/index.ts';
import { defaultToolCacheDir, ensureTools, type ToolPaths } from './layer.ts';

export interface ToolRendererOptions {
  /** Where the layer is unpacked (default `.cache/tools` of the Sluice checkout). */
  readonly cacheDir?: string;
  /** Explicit binaries, e.g. `/opt/kubectl/kubectl` and `/opt/helm/helm` inside Lambda. */
  readonly binaries?: { kubectl: string; helm: string };
  /** Kill a tool that runs longer than this (default 60 s). */
  readonly timeoutMs?: number;
}

const isInside = (root: string, candidate: string): boolean =>
  candidate === root || candidate.startsWith(`${root}${path.sep}`);

/** The first symlink under `dir` whose target leaves `root`, as a repo-relative path. */
const escapingLink = async (root: string, dir: string): Promise<string | undefined> => {
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
        const found = await escapingLink(root, real);
        if (found) return found;
      }
    } else if (entry.isDirectory() && entry.name !== '.git') {
      const found = await escapingLink(root, full);
      if (found) return found;
    }
  }
  return undefined;
};

export const createToolRenderer = (options: ToolRendererOptions = {}): ManifestRenderer => {
  const cacheDir = options.cacheDir ?? defaultToolCacheDir();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const tools = (): Promise<Pick<ToolPaths, 'kubectl' | 'helm'>> =>
    options.binaries ? Promise.resolve(options.binaries) : ensureTools(cacheDir);
  const home = path.join(cacheDir, 'home');
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    KUBECONFIG: path.join(home, 'no-kubeconfig'),
    HELM_CACHE_HOME: path.join(home, 'helm', 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'helm', 'config'),
    HELM_DATA_HOME: path.join(home, 'helm', 'data'),
    LANG: 'C',
  };

  const run = (file: string, args: readonly string[], cwd: string): Promise<ToolResult> =>
    new Promise((resolve) => {
      execFile(
        file,
        args,
        {
          cwd,
          env,
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: 256 * 1024 * 1024,
          encoding: 'utf8',
        },
        (error, stdout, stderr) => {
          if (!error) return resolve({ ok: true, stdout });
          if (error.killed || error.signal === 'SIGKILL') {
            return resolve({
              ok: false,
              reason: 'timeout',
              message: `${path.basename(file)} did not finish within ${timeoutMs / 1000} s`,
            });
          }
          const message = (stderr || error.message).trim().replaceAll(cwd + path.sep, '');
          resolve({ ok: false, reason: 'failed', message });
        },
      );
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

  let versions: Promise<string> | undefined;
  return {
    versions() {
      versions ??= (async () => {
        const { kubectl, helm } = await tools();
        const k = await run(kubectl, ['version', '--client', '-o', 'json'], cacheDir);
        const h = await run(helm, ['version', '--template', '{{.Version}}'], cacheDir);
        if (!k.ok || !h.ok)
          throw new Error(`render tools do not run: ${k.ok ? '' : k.message} ${h.ok ? '' : h.message}`);
        const info = JSON.parse(k.stdout) as {
          clientVersion?: { gitVersion?: string };
          kustomizeVersion?: string;
        };
        return `kubectl ${info.clientVersion?.gitVersion}, kustomize ${info.kustomizeVersion}, helm ${h.stdout.trim()}`;
      })();
      versions.catch(() => {
        versions = undefined;
      });
      return versions;
    },

    async kustomize({ root, dir, inputs }) {
      const refused = await refuseLinks(root, inputs);
      if (refused) return refused;
      const { kubectl } = await tools();
      return run(kubectl, ['kustomize', dir, '--load-restrictor', 'LoadRestrictionsRootOnly'], root);
    },

    async helmTemplate(request) {
      const refused = await refuseLinks(request.root, request.inputs);
      if (refused) return refused;
      const { helm } = await tools();
      await mkdir(env.HELM_CACHE_HOME, { recursive: true });
      // Sluice's values go through a generated file, not --set, so commas and dots in values
      // stay literal; it is layered last, as helm layers -f files in order.
      const valuesFile = path.join(home, `values-${randomUUID()}.json`);
      await writeFile(valuesFile, JSON.stringify(request.values));
      const args = ['template', request.releaseName];
      if (request.repo?.url.startsWith('oci://')) {
        args.push(
          `${request.repo.url.replace(/\/+$/, '')}/${request.repo.name}`,
          '--version',
          request.repo.version,
        );
      } else if (request.repo) {
        args.push(request.repo.name, '--repo', request.repo.url, '--version', request.repo.version);
      } else {
        args.push(request.chart ?? '.');
      }
      if (request.namespace) args.push('--namespace', request.namespace);
      if (request.includeCrds) args.push('--include-crds');
      for (const file of request.valueFiles) args.push('--values', file);
      args.push('--values', valuesFile);
      try {
        return await run(helm, args, request.root);
      } finally {
        await rm(valuesFile, { force: true });
      }
    },
  };
};
