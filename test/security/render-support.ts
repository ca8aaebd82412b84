/**
 * Shared fixtures of the render security suites (issue 11, items 2, 3, 5, 7, 8): throwaway config
 * repositories on disk, a canary file outside them whose content must never appear in any
 * output, and the real CLI on the pinned Node.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import type { SourceTree } from '../../shared/ports/index.ts';
import type { RenderSpec } from '../../shared/schemas/events.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** A scratch area holding `repo/` (the checkout) and `outside/canary.txt` (must never leak). */
export interface Sandbox {
  readonly dir: string;
  readonly repo: string;
  readonly canary: string;
  readonly canaryText: string;
  write(files: Record<string, string>): void;
  tree(): SourceTree;
  cleanup(): void;
}

export const sandbox = (): Sandbox => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-render-sec-'));
  const repo = path.join(dir, 'repo');
  const canaryText = `CANARY-${path.basename(dir)}`;
  const canary = path.join(dir, 'outside', 'canary.txt');
  mkdirSync(path.dirname(canary), { recursive: true });
  mkdirSync(repo);
  writeFileSync(canary, `${canaryText}\n`);
  return {
    dir,
    repo,
    canary,
    canaryText,
    write(files) {
      for (const [file, text] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
        writeFileSync(path.join(repo, file), text);
      }
    },
    tree: () => createDirectoryTree(repo),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
};

/** A render spec as the planner builds it for an app without environments. */
export const specOf = (app: string, appPath: string, extra: Partial<RenderSpec> = {}): RenderSpec => ({
  app,
  path: appPath,
  values: {},
  disabledPolicies: [],
  sync: { prune: true, selfHeal: false },
  ...extra,
});

export const configMap = (name: string, extra = '') =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  a: "1"\n${extra}`;

/** The classic "billion laughs": nine levels of nine aliases each, as one ConfigMap named `name`. */
export const aliasBomb = (name = 'bomb') => {
  const lines = [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    `  name: ${name}`,
    'data:',
    '  a0: &a0 ["lol"]',
  ];
  for (let i = 1; i < 10; i++)
    lines.push(
      `  a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  return `${lines.join('\n')}\n`;
};

/** A sluice.yaml with one target and the given apps (YAML list items, indented by two). */
export const fleetYaml = (apps: string) => `apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - name: dev
    cloud: other
    region: local
    labels: { env: dev }
    cluster: { kind: directory }
apps:
${apps}`;

/** Runs the real CLI on the pinned Node, as a user would, with extra environment variables. */
export const sluiceWith = (env: Record<string, string>, ...args: string[]) => {
  const run = spawnSync(process.execPath, [path.join(repoRoot, 'bin/sluice.mjs'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
};

export const sluice = (...args: string[]) => sluiceWith({}, ...args);

/** An in-memory SourceTree: sorted, repo-relative, recursive list. */
export const memoryTree = (files: Record<string, string>): SourceTree => ({
  commit: 'a'.repeat(40),
  root: '/memory',
  list: async (dir) =>
    Object.keys(files)
      .filter((f) => dir === '.' || f.startsWith(`${dir}/`))
      .sort(),
  read: async (path) => files[path],
});
