/**
 * The edge `sluice dev` and `sluice dev --aws` share, around whichever pipeline they run: the
 * webhook endpoint, the git server whose pushes are sent to it as signed GitHub push webhooks,
 * the repo it deploys, and the reconciliation of missed pushes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { startGitServer } from '../../shared/adapters/local/git-server.ts';
import { startIngestServer } from '../../shared/adapters/local/ingest-server.ts';
import { readJson, writeFileAtomic } from '../../shared/adapters/local/json-file.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { pushNotifier } from '../../shared/adapters/local/push-webhook.ts';
import type { IngestRequest, IngestResponse } from '../../shared/core/ingest.ts';
import { reconcileBranches } from '../../shared/core/reconcile.ts';
import { deployBranchList, type RepoCatalog } from '../../shared/core/repos.ts';
import { BadInputError } from '../../shared/errors.ts';
import type { EventBus, GitSource, Ledger, ReconcileTrigger } from '../../shared/ports/index.ts';
import { DEFAULT_DEPLOY_BRANCH } from '../../shared/schemas/repos.ts';

/** The flags of `sluice dev` the edge reads. */
export interface EdgeOptions {
  readonly port: number;
  readonly gitPort: number;
  /** How often each repo's head is compared with the last planned commit. @default 300 */
  readonly reconcileSeconds?: number;
  /** The branches of the seeded repo that deploy. @default ['main'] */
  readonly branch?: readonly string[];
}

/** The webhook secret: the flag's, or one generated on first start and kept (0600) in the workdir. */
export const webhookSecretFor = async (workdir: string, flag?: string): Promise<string> => {
  if (flag) return flag;
  const file = path.join(workdir, 'state', 'webhook-secret.json');
  const stored = await readJson<{ secret?: string }>(file, {});
  if (stored.secret) return stored.secret;
  const secret = randomBytes(32).toString('hex');
  await writeFileAtomic(file, JSON.stringify({ secret }), 0o600);
  return secret;
};

export const listen = async <T>(
  what: string,
  flag: string,
  port: number,
  start: () => Promise<T>,
): Promise<T> => {
  try {
    return await start();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new BadInputError(
        `${flag} ${port}`,
        `the ${what} port is already in use`,
        `pass ${flag} 0 for any free port`,
      );
    }
    throw error;
  }
};

/**
 * The edge both modes share: the webhook endpoint, and the git server whose pushes are sent to it
 * as signed GitHub push webhooks.
 */
export const startEdge = async (
  options: EdgeOptions,
  reposDir: string,
  /** The secret the git server signs a repo's pushes with: what the ingest accepts for it. */
  secretFor: (repo: string) => Promise<string>,
  print: (line: string) => void,
  ingest: (request: IngestRequest) => Promise<IngestResponse>,
) => {
  const server = await listen('webhook', '--port', options.port, () =>
    startIngestServer({ port: options.port, ingest }),
  );
  const webhookUrl = `${server.url}/webhooks/github`;
  let gitBase = '';
  const notify = pushNotifier({ reposDir, gitBase: () => gitBase, webhookUrl, secretFor, print });
  const git = await listen('git', '--git-port', options.gitPort, () =>
    startGitServer({
      root: reposDir,
      port: options.gitPort,
      onPush: (u) => notify(u.repo, u.ref, u.before, u.after),
    }),
  );
  gitBase = git.url;
  return {
    git,
    gitUrl: `${git.url}/fleet.git`,
    webhookUrl,
    ingestUrl: server.url,
    async close() {
      await git.close();
      await server.close();
    },
  };
};

/** The one repo `sluice dev` deploys: its seeded `local/fleet`, served by its own git server. */
export const devRepo = (gitBase: string, options: EdgeOptions) => ({
  name: 'local/fleet',
  url: `${gitBase}/fleet.git`,
  branches: [...(options.branch?.length ? options.branch : [DEFAULT_DEPLOY_BRANCH])],
});

/**
 * Missed webhooks (sent while `sluice dev` was stopped, or the seed commit on first start): each
 * repo's main head is compared with the last planned commit now and every --reconcile-seconds.
 */
export const startReconciler = async (
  options: EdgeOptions,
  repos: RepoCatalog,
  git: GitSource,
  pipeline: { ledger: Ledger; bus: EventBus },
  print: (line: string) => void,
) => {
  const reconcile = async () => {
    // Only the configured repo's deploy branches: the git server may hold others, they never deploy.
    const tracked = deployBranchList(repos);
    const deps = {
      git,
      ledger: pipeline.ledger,
      bus: pipeline.bus,
      clock: systemClock,
      newTraceId: randomUUID,
    };
    for (const failure of (await reconcileBranches(deps, tracked)).failed) {
      print(`reconcile ${failure.repo}#${failure.branch}: ${failure.error}`);
    }
  };
  await reconcile();
  const timer = setInterval(
    () => void reconcile().catch((error: Error) => print(`reconcile failed: ${error.message}`)),
    (options.reconcileSeconds ?? 300) * 1000,
  );
  timer.unref();
  return { stop: () => clearInterval(timer) };
};

/** The management stack's reconcile schedule, played by `sluice dev --aws`. */
export const scheduleReconcile = (
  options: EdgeOptions,
  trigger: ReconcileTrigger,
  print: (line: string) => void,
) => {
  const tick = () =>
    void trigger
      .request({ delaySeconds: 0, requestedBy: 'schedule' })
      .catch((error: Error) => print(`reconcile request failed: ${error.message}`));
  tick();
  const timer = setInterval(tick, (options.reconcileSeconds ?? 300) * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
};

/**
 * `sluice dev --repo URL`: an existing repository followed instead of the seeded one. Its name is
 * the URL's path (`acme/fleet` for https://github.com/acme/fleet.git), which is what a provider's
 * webhook names it. Credentials never ride in the URL (they would be printed and stored): they
 * come from SLUICE_GIT_TOKEN or the secret store (docs/real-clusters.md). isomorphic-git speaks
 * HTTP(S) only, so an SSH URL is refused with the way out.
 */
export const remoteRepo = (raw: string, options: EdgeOptions) => {
  if (/^(ssh:\/\/|git@|[^/:]+@[^/:]+:)/.test(raw)) {
    throw new BadInputError(
      `--repo ${raw}`,
      'is an SSH URL; sluice dev follows repositories over HTTPS only',
      'pass the https:// clone URL and a token in SLUICE_GIT_TOKEN (or the secret store entry "git")',
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadInputError(
      `--repo ${raw}`,
      'is not a URL',
      'pass a clone URL such as https://github.com/acme/fleet.git',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new BadInputError(
      `--repo ${url.protocol}`,
      'is not an HTTP(S) clone URL',
      'pass an https:// clone URL',
    );
  }
  if (url.username || url.password) {
    throw new BadInputError(
      '--repo',
      'carries credentials in the URL (they would be printed and stored)',
      'drop them from the URL and put the token in SLUICE_GIT_TOKEN or the secret store entry "git"',
    );
  }
  const name = url.pathname
    .replace(/\.git\/?$/, '')
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .slice(-2)
    .join('/');
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)?$/.test(name)) {
    throw new BadInputError(
      `--repo ${raw}`,
      'has no owner/name path',
      'pass a clone URL such as https://github.com/acme/fleet.git',
    );
  }
  return {
    // A provider always has owner/name; a bare server's /fleet.git is named remote/fleet.
    name: name.includes('/') ? name : `remote/${name}`,
    url: url.toString(),
    branches: [...(options.branch?.length ? options.branch : [DEFAULT_DEPLOY_BRANCH])],
  };
};
