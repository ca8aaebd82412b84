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
