/**
 * A local fleet for benchmarks and reliability tests: N bare repos on the real git smart-HTTP
 * server, the real ingest server, and the whole pipeline in this process. A "push" moves a
 * branch on the server (commits are generated ahead of time with `git fast-import`) and sends
 * the signed GitHub webhook the provider would send, so ingest, plan and render run exactly as
 * in `sluice dev` while the load generator stays cheap enough to drive 100 pushes a second.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { type LocalPipeline, startLocalPipeline, workdirPaths } from '../../cli/runtime/local-pipeline.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import {
  type GitServer,
  initBareRepo,
  startGitServer,
  ZERO_SHA,
} from '../../shared/adapters/local/git-server.ts';
import { startIngestServer } from '../../shared/adapters/local/ingest-server.ts';
import { MemorySecretStore } from '../../shared/adapters/local/memory.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import { ingestWebhook } from '../../shared/core/ingest.ts';
import type { BundleStore, ClusterClient, GitSource, Ledger, SecretStore } from '../../shared/ports/index.ts';
import type { Envelope } from '../../shared/schemas/events.ts';

const run = promisify(execFile);

/** Files of a commit: path → content, or null to delete. */
export type FileChanges = Record<string, string | null>;

export const bareGit = async (gitDir: string, ...args: string[]): Promise<string> =>
  (await run('git', ['--git-dir', gitDir, ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout.trim();

/**
 * Appends commits to `ref` (from `parent`, or the ref's own tip) with one `git fast-import`,
 * and returns their shas in order. The branch people deploy from is not moved: `push` does that.
 */
export const writeCommits = async (
  gitDir: string,
  parent: string,
  commits: readonly { files: FileChanges; message: string }[],
  ref = 'refs/sluice-bench/staging',
): Promise<string[]> => {
  const marksDir = await mkdtemp(path.join(tmpdir(), 'sluice-marks-'));
  const marks = path.join(marksDir, 'marks');
  const chunks: string[] = [];
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  commits.forEach((commit, i) => {
    chunks.push(
      `commit ${ref}\nmark :${i + 1}\ncommitter Bench <bench@localhost> ${1_700_000_000 + i} +0000\n`,
    );
    chunks.push(data(commit.message));
    chunks.push(i === 0 ? `from ${parent}\n` : `from :${i}\n`);
    for (const [file, content] of Object.entries(commit.files)) {
      chunks.push(content === null ? `D ${file}\n` : `M 100644 inline ${file}\n${data(content)}`);
    }
    chunks.push('\n');
  });
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      'git',
      ['--git-dir', gitDir, 'fast-import', '--quiet', '--force', `--export-marks=${marks}`],
      {
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import: ${stderr}`))));
    child.stdin.end(chunks.join(''));
  });
  const bySha = new Map(
    (await readFile(marks, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [mark = '', sha = ''] = line.split(' ');
        return [Number(mark.slice(1)), sha] as const;
      }),
  );
  await rm(marksDir, { recursive: true, force: true });
  return commits.map((_, i) => bySha.get(i + 1)!);
};

/** Writes `files` under `dir` (creating folders). */
export const writeTree = async (dir: string, files: Record<string, string>): Promise<void> => {
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
};

export interface FleetOptions {
  /** Repo name → its first commit's files. */
  readonly repos: Record<string, Record<string, string>>;
  readonly coalesceMs?: number;
  readonly webhookSecret?: string;
  /** Wraps the real git source (e.g. to inject a fault or build a naive baseline). */
  readonly git?: (real: GitSource, pipeline: () => LocalPipeline) => GitSource;
  readonly cluster?: (target: string) => ClusterClient;
  readonly bundles?: BundleStore;
  readonly secrets?: SecretStore;
  readonly logger?: Logger;
  readonly retryDelayMs?: number;
  /** Called for every event, after the pipeline's own rules. */
  readonly onEvent?: (event: Envelope) => void;
  readonly workdir?: string;
  /** Passed to the local pipeline: Infinity makes the planner list the branch for every push. */
  readonly ingestClockSkewMs?: number;
  /** Passed to the local pipeline: told of every handler invocation (stage, duration, records). */
  readonly onInvocation?: (stage: string, durationMs: number, records: number) => void;
}

export interface Fleet {
  readonly workdir: string;
  readonly pipeline: LocalPipeline;
  readonly webhookUrl: string;
  readonly webhookSecret: string;
  readonly git: GitServer;
  gitDir(repo: string): string;
  repoUrl(repo: string): string;
  /** The branch head on the server. */
  head(repo: string): Promise<string>;
  /** Moves main to `sha` on the server and delivers the signed push webhook; returns the HTTP status. */
  push(repo: string, sha: string, options?: { deliveryId?: string }): Promise<number>;
  /** Commits `files` on top of main and pushes it. */
  commit(repo: string, files: FileChanges, message?: string): Promise<string>;
  events(type?: string): Envelope[];
  /** Restarts the git server on the same port (after `git.close()`), for fault injection. */
  restartGit(): Promise<void>;
  stop(): Promise<void>;
}

export const startFleet = async (options: FleetOptions): Promise<Fleet> => {
  const workdir = options.workdir ?? (await mkdtemp(path.join(tmpdir(), 'sluice-fleet-')));
  const paths = workdirPaths(workdir);
  const seeds = path.join(workdir, 'seeds');
  for (const [repo, files] of Object.entries(options.repos)) {
    await writeTree(path.join(seeds, repo), files);
    await initBareRepo(paths.repos, repo, path.join(seeds, repo));
  }
  await rm(seeds, { recursive: true, force: true });
  const webhookSecret = options.webhookSecret ?? `bench-${randomUUID()}`;
  const real = createGitSource({ cacheDir: paths.gitCache });
  const pipeline: LocalPipeline = startLocalPipeline({
    workdir,
    git: options.git ? options.git(real, () => pipeline) : real,
    secrets: options.secrets ?? new MemorySecretStore(),
    coalesceMs: options.coalesceMs ?? 0,
    retryDelayMs: options.retryDelayMs ?? 50,
    logger: options.logger ?? new Logger({ serviceName: 'sluice-bench', logLevel: 'SILENT' }),
    ...(options.cluster ? { cluster: options.cluster } : {}),
    ...(options.bundles ? { bundles: options.bundles } : {}),
    sharedWebhookSecrets: async () => [webhookSecret],
    ...(options.ingestClockSkewMs === undefined ? {} : { ingestClockSkewMs: options.ingestClockSkewMs }),
    ...(options.onInvocation ? { onInvocation: options.onInvocation } : {}),
  });
  if (options.onEvent) pipeline.bus.subscribe(options.onEvent);
  // The ingest the pipeline's composition root builds, as `sluice dev` runs it.
  const ingestDeps = pipeline.pipeline.ingestDeps();
  const ingest = await startIngestServer({
    port: 0,
    ingest: (request) => ingestWebhook(ingestDeps, request),
  });
  const webhookUrl = `${ingest.url}/webhooks/github`;
  let git = await startGitServer({ root: paths.repos, port: 0 });
  const gitDir = (repo: string) => path.join(paths.repos, `${repo}.git`);
  const repoUrl = (repo: string) => `${git.url}/${repo}.git`;
  const head = (repo: string) => bareGit(gitDir(repo), 'rev-parse', 'refs/heads/main');
  // Pushes to one repo are serialised (like receive-pack's lock) so `before` is always exact.
  const tails = new Map<string, Promise<unknown>>();

  const push = (repo: string, sha: string, opts: { deliveryId?: string } = {}): Promise<number> => {
    const task = (tails.get(repo) ?? Promise.resolve()).then(async () => {
      const before = await head(repo).catch(() => ZERO_SHA);
      await bareGit(gitDir(repo), 'update-ref', 'refs/heads/main', sha);
      const answer = await sendWebhook({
        url: webhookUrl,
        secret: webhookSecret,
        event: 'push',
        ...(opts.deliveryId ? { deliveryId: opts.deliveryId } : {}),
        payload: githubPushPayload({
          repo: `local/${repo}`,
          cloneUrl: repoUrl(repo),
          ref: 'refs/heads/main',
          before,
          after: sha,
          message: 'bench push',
        }),
      });
      return answer.status;
    });
    tails.set(
      repo,
      task.catch(() => undefined),
    );
    return task;
  };

  const fleet: Fleet = {
    workdir,
    pipeline,
    webhookUrl,
    webhookSecret,
    get git() {
      return git;
    },
    gitDir,
    repoUrl,
    head,
    push,
    async commit(repo, files, message = 'change') {
      const [sha] = await writeCommits(gitDir(repo), await head(repo), [{ files, message }]);
      await push(repo, sha!);
      return sha!;
    },
    events(type) {
      return pipeline.bus.events.filter((e) => type === undefined || e['detail-type'] === type);
    },
    async restartGit() {
      git = await startGitServer({ root: paths.repos, port: git.port });
    },
    async stop() {
      await ingest.close();
      await git.close().catch(() => undefined);
      await pipeline.stop();
      if (!options.workdir) await rm(workdir, { recursive: true, force: true });
    },
  };
  // Every repo's first commit is pushed, as `sluice dev` does on start.
  await Promise.all(Object.keys(options.repos).map(async (repo) => push(repo, await head(repo))));
  return fleet;
};

/** The commit of an event's detail. */
export const commitOf = (e: Envelope): string => (e.detail as { commit: string }).commit;
export const repoOf = (e: Envelope): string => (e.detail as { repo: string }).repo;

/** Polls until `check` returns a value, or throws after `timeoutMs`. */
export const until = async <T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
};

/**
 * True once every (app, target) deployment of `repo` in the ledger is Healthy at `sha`, and there
 * are `expected` of them.
 */
export const allHealthyAt = async (
  pipeline: { readonly ledger: Pick<Ledger, 'listDeployments'> },
  repo: string,
  sha: string,
  expected: number,
): Promise<true | undefined> => {
  const records = (await pipeline.ledger.listDeployments()).filter((r) => r.repo === `local/${repo}`);
  return records.length === expected && records.every((r) => r.commit === sha && r.state === 'Healthy')
    ? true
    : undefined;
};
