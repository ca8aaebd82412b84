import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Command } from 'commander';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { createGitWriter, secretStoreAuth } from '../../shared/adapters/git/git-writer.ts';
import { localSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import {
  controlFile,
  controlTokenFile,
  startControlServer,
} from '../../shared/adapters/local/control-server.ts';
import { initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import { startIngestServer } from '../../shared/adapters/local/ingest-server.ts';
import { readJson, writeFileAtomic } from '../../shared/adapters/local/json-file.ts';
import { FileSecretStore, MemoryIdempotencyStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import { RecordingGitProvider } from '../../shared/adapters/local/status-recorder.ts';
import { readAwsSettings } from '../../shared/config/env.ts';
import { type IngestRequest, type IngestResponse, ingestWebhook } from '../../shared/core/ingest.ts';
import { reconcileBranches } from '../../shared/core/reconcile.ts';
import { defaultWebhookSecretRef, webhookSecretsFor } from '../../shared/core/webhook-registration.ts';
import { PROVIDER_NAMES } from '../../shared/core/webhooks/index.ts';
import { TokenBucketLimiter } from '../../shared/core/webhooks/rate-limit.ts';
import { BadInputError } from '../../shared/errors.ts';
import type { EventBus, GitSource, Ledger } from '../../shared/ports/index.ts';
import { printEvent } from '../progress.ts';
import { type AwsPipeline, startAwsPipeline } from '../runtime/aws-pipeline.ts';
import { type LocalPipeline, startLocalPipeline, workdirPaths } from '../runtime/local-pipeline.ts';
import { DEFAULT_WORKDIR } from './status.ts';

const run = promisify(execFile);
const EXAMPLE_FLEET = fileURLToPath(new URL('../../examples/fleet', import.meta.url));
const ZERO = '0'.repeat(40);
const DEV_SECRETS = { 'aws-sm://api/database#url': 'postgres://api:local-dev-only@127.0.0.1:5432/api' };

export interface DevOptions {
  readonly workdir: string;
  readonly port: number;
  readonly gitPort: number;
  readonly webhookSecret?: string;
  readonly seed: string;
  readonly coalesceMs: number;
  readonly quiet?: boolean;
  /** How often each repo's head is compared with the last planned commit (missed webhooks). @default 300 */
  readonly reconcileSeconds?: number;
  /** Run the pipeline on the AWS API at AWS_ENDPOINT_URL (the emulator) instead of in process. */
  readonly aws?: boolean;
}

export interface DevServer {
  readonly gitUrl: string;
  readonly webhookUrl: string;
  readonly pipeline: LocalPipeline;
  /** `POST ${controlUrl}/local/events` puts a rollback trigger on the bus (`sluice rollback`, `sluice alarm`). */
  readonly controlUrl: string;
  /** Commit statuses the pipeline set, as a provider would show them. */
  readonly statuses: RecordingGitProvider;
  stop(): Promise<void>;
}

const parsePort = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) {
    throw new BadInputError(
      `${flag} ${value}`,
      'is not a port',
      'pass a number from 0 to 65535 (0 picks a free port)',
    );
  }
  return n;
};

const parseMillis = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 600_000) {
    throw new BadInputError(
      `--coalesce-ms ${value}`,
      'is not a duration',
      'pass milliseconds from 0 to 600000',
    );
  }
  return n;
};

const parseSeconds = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 86_400) {
    throw new BadInputError(
      `--reconcile-seconds ${value}`,
      'is not a duration',
      'pass seconds from 1 to 86400',
    );
  }
  return n;
};

/** The webhook secret: the flag's, or one generated on first start and kept (0600) in the workdir. */
const webhookSecretFor = async (workdir: string, flag?: string): Promise<string> => {
  if (flag) return flag;
  const file = path.join(workdir, 'state', 'webhook-secret.json');
  const stored = await readJson<{ secret?: string }>(file, {});
  if (stored.secret) return stored.secret;
  const secret = randomBytes(32).toString('hex');
  await writeFileAtomic(file, JSON.stringify({ secret }), 0o600);
  return secret;
};

const bareGit = async (gitDir: string, args: string[]): Promise<string> =>
  (await run('git', ['--git-dir', gitDir, ...args])).stdout.trim();

const listen = async <T>(what: string, flag: string, port: number, start: () => Promise<T>): Promise<T> => {
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

/** Sends every push to the local git server to `webhookUrl` as GitHub would: a signed push event. */
export const pushNotifier =
  (options: {
    reposDir: string;
    /** `http://127.0.0.1:PORT` of the git server, known once it listens. */
    gitBase: () => string;
    webhookUrl: string;
    secret: string;
    print: (line: string) => void;
  }) =>
  async (repo: string, ref: string, before: string, after: string): Promise<void> => {
    const { reposDir, webhookUrl, secret, print } = options;
    const gitDir = path.join(reposDir, `${repo}.git`);
    const [author = 'sluice-dev', message = ''] =
      after === ZERO ? [] : (await bareGit(gitDir, ['log', '-1', '--format=%an%x00%s', after])).split('\0');
    const forced =
      before !== ZERO &&
      after !== ZERO &&
      !(await run('git', ['--git-dir', gitDir, 'merge-base', '--is-ancestor', before, after]).then(
        () => true,
        () => false,
      ));
    const payload = githubPushPayload({
      repo: `local/${repo}`,
      cloneUrl: `${options.gitBase()}/${repo}.git`,
      ref,
      before,
      after,
      message,
      pusher: author,
      forced,
    });
    const answer = await sendWebhook({ url: webhookUrl, secret, event: 'push', payload });
    if (answer.status >= 300) print(`webhook   ${ref} ${after.slice(0, 7)} answered ${answer.status}`);
  };

/**
 * The edge both modes share: the webhook endpoint, and the git server whose pushes are sent to it
 * as signed GitHub push webhooks.
 */
const startEdge = async (
  options: DevOptions,
  reposDir: string,
  secret: string,
  print: (line: string) => void,
  ingest: (request: IngestRequest) => Promise<IngestResponse>,
) => {
  const server = await listen('webhook', '--port', options.port, () =>
    startIngestServer({ port: options.port, ingest }),
  );
  const webhookUrl = `${server.url}/webhooks/github`;
  let gitBase = '';
  const notify = pushNotifier({ reposDir, gitBase: () => gitBase, webhookUrl, secret, print });
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

/**
 * Missed webhooks (sent while `sluice dev` was stopped, or the seed commit on first start): each
 * repo's main head is compared with the last planned commit now and every --reconcile-seconds.
 */
const startReconciler = async (
  options: DevOptions,
  reposDir: string,
  gitBase: string,
  git: GitSource,
  pipeline: { ledger: Ledger; bus: EventBus },
  print: (line: string) => void,
) => {
  const reconcile = async () => {
    const tracked = (await readdir(reposDir))
      .filter((entry) => entry.endsWith('.git'))
      .map((entry) => ({
        repo: `local/${entry.slice(0, -4)}`,
        repoUrl: `${gitBase}/${entry}`,
        branch: 'main',
      }));
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

/**
 * `sluice dev`: a real git smart-HTTP server seeded with the example fleet, the webhook endpoint,
 * and the whole pipeline in this process. A push to the git server is sent to the endpoint as a
 * signed GitHub push webhook, exactly as a provider would send it.
 */
export const startDev = async (
  options: DevOptions,
  print: (line: string) => void = console.log,
): Promise<DevServer> => {
  const workdir = path.resolve(options.workdir);
  const paths = workdirPaths(workdir);
  await mkdir(paths.repos, { recursive: true });
  const secret = await webhookSecretFor(workdir, options.webhookSecret);
  await initBareRepo(paths.repos, 'fleet', options.seed);

  const secretsFile = path.join(workdir, 'secrets.json');
  if ((await readJson<unknown>(secretsFile, undefined)) === undefined) {
    // Local stand-ins for the example fleet's secret references; real ones live in Secrets Manager or Vault.
    await writeFileAtomic(secretsFile, `${JSON.stringify(DEV_SECRETS, null, 2)}\n`, 0o600);
  }
  const secrets = new FileSecretStore(secretsFile);
  // Commit statuses go to state/statuses.json; each is printed as it is set.
  const statuses = new RecordingGitProvider(path.join(workdir, 'state', 'statuses.json'), {
    onStatus: (s) => {
      if (!options.quiet)
        print(`status    ${s.commit.slice(0, 7)} ${s.context} ${s.state}: ${s.description}`);
    },
  });
  const gitSource = createGitSource({ cacheDir: paths.gitCache });
  let gitUrl = '';
  const pipeline = startLocalPipeline({
    workdir,
    git: gitSource,
    secrets,
    // Kept in the workdir, so bundles dispatched before a restart still verify after it.
    signing: await localSigningKey(path.join(workdir, 'state')),
    coalesceMs: options.coalesceMs,
    provider: statuses,
    // Rollback writes its revert commit through isomorphic-git; credentials, when the server wants
    // them, come from the secret store entry `git-writer` (user:token), never from Git.
    writer: createGitWriter({
      cacheDir: path.join(workdir, 'cache', 'git-writer'),
      auth: (url) => secretStoreAuth(secrets, 'git-writer')(url).catch(() => undefined),
    }),
    repoUrl: (repo) => `${gitUrl.replace(/\/fleet\.git$/, '')}/${repo.replace(/^local\//, '')}.git`,
    logger: new Logger({ serviceName: 'sluice-dev', logLevel: options.quiet ? 'SILENT' : 'ERROR' }),
  });
  const unsubscribe = options.quiet ? () => undefined : pipeline.bus.subscribe(printEvent(print));

  const deliveries = new MemoryIdempotencyStore();
  // Every provider's path takes the one secret (GitLab's token, Azure DevOps' basic-auth password).
  const rateLimiter = new TokenBucketLimiter({ clock: systemClock });
  const edge = await startEdge(options, paths.repos, secret, print, (request) =>
    ingestWebhook(
      {
        bus: pipeline.bus,
        deliveries,
        clock: systemClock,
        // The dev secret, plus what `sluice webhook register|rotate` stored for this repo in
        // secrets.json (current, and previous during a rotation window).
        webhookSecrets: async (provider, repo) => [
          secret,
          ...(repo
            ? await webhookSecretsFor(secrets, systemClock, defaultWebhookSecretRef(provider, repo))
            : []),
        ],
        newTraceId: randomUUID,
        rateLimiter,
      },
      request,
    ),
  );
  const { git, webhookUrl } = edge;
  gitUrl = edge.gitUrl;
  print(`git: ${gitUrl}`);
  print(`webhook: ${webhookUrl}`);
  print(`webhooks: ${edge.ingestUrl}/webhooks/{${PROVIDER_NAMES.join(',')}}`);

  const reconciler = await startReconciler(options, paths.repos, git.url, gitSource, pipeline, print);
  const control = await startControlServer(pipeline.bus, { tokenFile: controlTokenFile(workdir) });
  await writeFileAtomic(controlFile(workdir), JSON.stringify({ url: control.url, pid: process.pid }));
  print(`control: ${control.url}/local/events (bearer token in ${controlTokenFile(workdir)}, mode 600)`);
  print('listening on 127.0.0.1 only: git, webhooks and control are not reachable from other machines');
  print('ready');

  return {
    gitUrl,
    webhookUrl,
    pipeline,
    statuses,
    controlUrl: control.url,
    async stop() {
      reconciler.stop();
      unsubscribe();
      await control.close();
      await edge.close();
      await pipeline.stop();
    },
  };
};

/**
 * `sluice dev --aws`: the same git server and webhook endpoint, but the pipeline runs on the AWS
 * API at AWS_ENDPOINT_URL (the emulator: `node scripts/emulator.mjs start`) — EventBridge, SQS,
 * S3 and Secrets Manager — with the same handlers drained in this process (cli/runtime/aws-pipeline.ts).
 */
export const startAwsDev = async (
  options: DevOptions,
  print: (line: string) => void = console.log,
): Promise<{ gitUrl: string; webhookUrl: string; pipeline: AwsPipeline; stop(): Promise<void> }> => {
  const aws = readAwsSettings();
  if (aws.endpoint === undefined) {
    throw new BadInputError(
      '--aws',
      'needs AWS_ENDPOINT_URL (it never touches a real account)',
      'start the emulator with `node scripts/emulator.mjs start` and export the line it prints',
    );
  }
  const workdir = path.resolve(options.workdir);
  const paths = workdirPaths(workdir);
  await mkdir(paths.repos, { recursive: true });
  const secret = await webhookSecretFor(workdir, options.webhookSecret);
  await initBareRepo(paths.repos, 'fleet', options.seed);
  const gitSource = createGitSource({ cacheDir: paths.gitCache });
  const pipeline = await startAwsPipeline({
    aws,
    git: gitSource,
    targetsDir: paths.targets,
    coalesceSeconds: Math.ceil(options.coalesceMs / 1000),
    log: (line) => print(`aws       ${line}`),
    ...(options.quiet
      ? {}
      : {
          onEvent: printEvent(print),
        }),
  });
  // The dev secrets and the webhook secret live in Secrets Manager, read back by ingest and the agent.
  for (const [ref, value] of Object.entries(DEV_SECRETS)) {
    const [name = '', key = ''] = ref.replace(/^aws-sm:\/\//, '').split('#');
    await pipeline.putSecret(name, { [key]: value });
  }
  const webhookRef = `${pipeline.resources.busName}/webhook`;
  await pipeline.putSecret(webhookRef, { github: secret });
  const edge = await startEdge(options, paths.repos, secret, print, (request) =>
    ingestWebhook(
      {
        bus: pipeline.bus,
        deliveries: pipeline.deliveries,
        planIntake: pipeline.planIntake,
        clock: systemClock,
        webhookSecrets: async () => [await pipeline.secrets.get(`aws-sm://${webhookRef}#github`)],
        newTraceId: randomUUID,
      },
      request,
    ),
  );
  const { gitUrl, webhookUrl } = edge;
  // The seed commit (and any push missed while stopped) is found by the reconciliation poll.
  const reconciler = await startReconciler(options, paths.repos, edge.git.url, gitSource, pipeline, print);
  print(`git: ${gitUrl}`);
  print(`webhook: ${webhookUrl}`);
  print(`aws: ${aws.endpoint} bus ${pipeline.resources.busName}, bucket ${pipeline.resources.bucket}`);
  print('listening on 127.0.0.1 only: git and webhooks are not reachable from other machines');
  print('ready');
  return {
    gitUrl,
    webhookUrl,
    pipeline,
    async stop() {
      reconciler.stop();
      await edge.close();
      await pipeline.stop();
    },
  };
};

export const registerDev = (program: Command): void => {
  program
    .command('dev')
    .description('run the whole pipeline locally: a git server, the webhook endpoint, and directory targets')
    .option('--workdir <dir>', 'where repos, state and targets live', DEFAULT_WORKDIR)
    .option('--port <n>', 'webhook port (0 = any free port)', parsePort('--port'), 7420)
    .option('--git-port <n>', 'git smart-HTTP port (0 = any free port)', parsePort('--git-port'), 7421)
    .option('--webhook-secret <s>', 'HMAC secret of the webhook (default: generated once per workdir)')
    .option('--seed <dir>', 'config repo the git server starts with', EXAMPLE_FLEET)
    .option(
      '--coalesce-ms <n>',
      'how long a push waits to be planned; pushes within it collapse into one',
      parseMillis,
      1500,
    )
    .option(
      '--reconcile-seconds <n>',
      'how often each repo head is compared with the last planned commit, to catch missed webhooks',
      parseSeconds,
      300,
    )
    .option('--aws', 'run the pipeline on the AWS emulator at AWS_ENDPOINT_URL (docs/aws-emulator.md)')
    .action(async (options: DevOptions) => {
      const dev = options.aws ? await startAwsDev(options) : await startDev(options);
      await new Promise<void>((resolve) => {
        const shutdown = () => {
          console.log('stopping');
          void dev.stop().then(resolve);
        };
        process.once('SIGINT', shutdown);
        process.once('SIGTERM', shutdown);
      });
    });
};
