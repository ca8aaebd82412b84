import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Command } from 'commander';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { SqsReconcileTrigger } from '../../shared/adapters/aws/sqs-reconcile-trigger.ts';
import { loadTrustPolicy } from '../../shared/adapters/git/commit-signatures.ts';
import { localCommitSigner, secretCommitSigner } from '../../shared/adapters/git/commit-signing.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { createGitWriter, secretStoreAuth } from '../../shared/adapters/git/git-writer.ts';
import { kubeconfigTargets } from '../../shared/adapters/k8s/kubeconfig-targets.ts';
import { localSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import {
  controlFile,
  controlTokenFile,
  startControlServer,
} from '../../shared/adapters/local/control-server.ts';
import { initBareRepo } from '../../shared/adapters/local/git-server.ts';
import { readJson, writeFileAtomic } from '../../shared/adapters/local/json-file.ts';
import { FileSecretStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { RecordingGitProvider } from '../../shared/adapters/local/status-recorder.ts';
import {
  kubeconfigFiles,
  optionalEnv,
  readAwsSettings,
  readCheckoutLimits,
  readDedupeLimits,
} from '../../shared/config/env.ts';
import { ingestWebhook } from '../../shared/core/ingest.ts';
import { lateRepoCatalog } from '../../shared/core/repos.ts';
import { PROVIDER_NAMES } from '../../shared/core/webhooks/index.ts';
import { TokenBucketLimiter } from '../../shared/core/webhooks/rate-limit.ts';
import { BadInputError } from '../../shared/errors.ts';
import { printable } from '../../shared/printable.ts';
import { printEvent } from '../progress.ts';
import { writeAwsOutputs } from '../runtime/aws-operate.ts';
import { type AwsPipeline, type AwsPipelineOptions, startAwsPipeline } from '../runtime/aws-pipeline.ts';
import {
  devRepo,
  remoteRepo,
  scheduleReconcile,
  startEdge,
  startReconciler,
  webhookSecretFor,
} from '../runtime/dev-edge.ts';
import { directoryClusters } from '../runtime/host.ts';
import { type LocalPipeline, startLocalPipeline, workdirPaths } from '../runtime/local-pipeline.ts';
import { startDevUi } from '../runtime/ui-server.ts';
import { DEFAULT_WORKDIR } from './status.ts';

const EXAMPLE_FLEET = fileURLToPath(new URL('../../examples/fleet', import.meta.url));
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
  /** With `aws`: the prefix of every bus, queue and bucket it creates (two on one emulator). @default 'sluice-dev' */
  readonly awsPrefix?: string;
  /** The branches of the seeded repo that deploy; pushes to others are recorded as skipped. @default ['main'] */
  readonly branch?: readonly string[];
  /** A trust policy file: commit signatures are checked at plan time (docs/provenance.md). @default none: nothing is verified */
  readonly trust?: string;
  /** Follow this repository (HTTPS clone URL) instead of the seeded one (docs/real-clusters.md). */
  readonly repo?: string;
  /** With `repo`: how often its branches' heads are polled. @default 10 */
  readonly pollSeconds?: number;
  /** The operator's kubeconfig for kubeconfig targets. @default KUBECONFIG, else ~/.kube/config */
  readonly kubeconfig?: string;
  /** Contexts a kubeconfig target may name. @default the kubeconfig's current-context only */
  readonly kubeContext?: readonly string[];
  /** The dashboard's port (0 = any free port). @default 0 here; the CLI defaults to 7422 */
  readonly uiPort?: number;
  /** The dashboard shows, never acts (no rollback or approve). */
  readonly uiReadOnly?: boolean;
}

export interface DevServer {
  readonly gitUrl: string;
  readonly webhookUrl: string;
  readonly pipeline: LocalPipeline;
  /** `POST ${controlUrl}/local/events` puts a rollback trigger on the bus (`sluice rollback`, `sluice alarm`). */
  readonly controlUrl: string;
  /** The fleet dashboard (cli/runtime/ui-server.ts). */
  readonly uiUrl: string;
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

/**
 * Credentials for a followed repo, sent to its own origin only: SLUICE_GIT_TOKEN, else the secret
 * store entry `git-writer` (`user:token`, the one rollback pushes with), else none (public repo).
 */
const followedRepoAuth =
  (repoUrl: string, secrets: FileSecretStore) =>
  async (url: string): Promise<{ username: string; password: string } | undefined> => {
    const target = new URL(url);
    if (target.origin !== new URL(repoUrl).origin) return undefined;
    // A token never crosses the network in clear text: plain http gets one only on this machine.
    if (target.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
      return undefined;
    }
    const token = optionalEnv('SLUICE_GIT_TOKEN');
    if (token) return { username: 'x-access-token', password: token };
    return secretStoreAuth(secrets, 'git-writer')(url).catch(() => undefined);
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
  const followed = options.repo ? remoteRepo(options.repo, options) : undefined;
  const gitSource = createGitSource({
    cacheDir: paths.gitCache,
    limits: readCheckoutLimits(),
    ...(followed ? { auth: followedRepoAuth(followed.url, secrets) } : {}),
  });
  // Rollback signs its reverts with this key; a trust policy names it as `sluice: true`.
  const commitSigner = await localCommitSigner(path.join(workdir, 'state'));
  const trust = options.trust
    ? await loadTrustPolicy(path.resolve(options.trust), gitSource, undefined, commitSigner.publicKey)
    : undefined;
  let gitUrl = '';
  // Trust lives outside the repo: `sluice dev` deploys its own repo, on --branch (main), only.
  const repos = lateRepoCatalog();
  const pipeline = startLocalPipeline({
    repos: repos.catalog,
    ...(trust ? { trust } : {}),
    dedupe: readDedupeLimits(),
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
      signer: commitSigner,
    }),
    repoUrl: (repo) =>
      followed?.name === repo
        ? followed.url
        : `${gitUrl.replace(/\/fleet\.git$/, '')}/${repo.replace(/^local\//, '')}.git`,
    // kubeconfig targets on the operator's kubeconfig and allowed contexts; the others are directories.
    cluster: kubeconfigTargets(
      {
        files: kubeconfigFiles(options.kubeconfig, homedir()),
        allowedContexts: options.kubeContext ?? [],
      },
      directoryClusters(paths.targets),
    ),
    logger: new Logger({ serviceName: 'sluice-dev', logLevel: options.quiet ? 'SILENT' : 'ERROR' }),
    sharedWebhookSecrets: async () => [secret],
    rateLimiter: new TokenBucketLimiter({ clock: systemClock }),
  });
  const unsubscribe = options.quiet ? () => undefined : pipeline.bus.subscribe(printEvent(print));

  // The same ingest as the deployed one (shared/runtime): a repo's own secret when `sluice webhook
  // register|rotate` stored one in secrets.json, else the dev secret on every provider's path.
  const ingest = pipeline.pipeline.ingestDeps();
  const secretFor = async (repo: string) => (await ingest.webhookSecrets('github', repo))[0] ?? secret;
  const edge = await startEdge(options, paths.repos, secretFor, print, (request) =>
    ingestWebhook(ingest, request),
  );
  const { git, webhookUrl } = edge;
  gitUrl = edge.gitUrl;
  print(`git: ${gitUrl}`);
  print(`webhook: ${webhookUrl}`);
  print(`webhooks: ${edge.ingestUrl}/webhooks/{${PROVIDER_NAMES.join(',')}}`);

  repos.set([followed ?? devRepo(git.url, options)], followed ? '--repo' : '--branch');
  // A followed repo is polled every --poll-seconds; a webhook to the endpoint above is taken at once.
  const reconciler = await startReconciler(
    followed ? { ...options, reconcileSeconds: options.pollSeconds ?? 10 } : options,
    repos.catalog,
    gitSource,
    pipeline,
    print,
  );
  if (followed) print(`following: ${followed.url} (${followed.branches.join(', ')}) as ${followed.name}`);
  const control = await startControlServer(pipeline.bus, { tokenFile: controlTokenFile(workdir) });
  await writeFileAtomic(controlFile(workdir), JSON.stringify({ url: control.url, pid: process.pid }));
  print(`control: ${control.url}/local/events (bearer token in ${controlTokenFile(workdir)}, mode 600)`);
  const ui = await startDevUi(pipeline, workdir, options);
  print(`ui: ${ui.url}${options.uiReadOnly ? ' (read-only)' : ''}`);
  print('listening on 127.0.0.1 only: git, webhooks, control and ui are not reachable from other machines');
  print('ready');

  return {
    gitUrl,
    webhookUrl,
    pipeline,
    statuses,
    controlUrl: control.url,
    uiUrl: ui.url,
    async stop() {
      reconciler.stop();
      unsubscribe();
      await ui.close();
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
  /** Hooks for benches and tests: the clusters, the health wait, each invocation (AwsPipelineOptions). */
  host: Pick<AwsPipelineOptions, 'cluster' | 'waitForHealth' | 'onInvocation'> = {},
): Promise<{ gitUrl: string; webhookUrl: string; pipeline: AwsPipeline; stop(): Promise<void> }> => {
  if (options.repo || options.kubeconfig || options.kubeContext?.length) {
    // Never silently elsewhere: the AWS pipeline deploys the seeded repo to directory targets.
    throw new BadInputError(
      '--repo/--kubeconfig/--kube-context with --aws',
      'are not supported yet',
      'drop --aws to follow a repository or apply to a kubeconfig context (docs/real-clusters.md)',
    );
  }
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
  const gitSource = createGitSource({ cacheDir: paths.gitCache, limits: readCheckoutLimits() });
  const repos = lateRepoCatalog();
  // As in process: the trust policy from --trust (given to plan directly, no 3 KB env limit). As
  // deployed: reverts signed with the key whose seed is in Secrets Manager (generated on first start).
  const commitSigningKey = `${options.awsPrefix ?? 'sluice-dev'}/commit-signing-key`;
  const commitSigner = await secretCommitSigner({
    secrets: new SecretsManagerStore({ aws }),
    secret: commitSigningKey,
    create: true,
  }).load();
  const trust = options.trust
    ? await loadTrustPolicy(path.resolve(options.trust), gitSource, undefined, commitSigner.publicKey)
    : undefined;
  const pipeline = await startAwsPipeline({
    ...host,
    ...(trust ? { trust } : {}),
    writer: createGitWriter({ cacheDir: path.join(workdir, 'cache', 'git-writer'), signer: commitSigner }),
    aws,
    ...(options.awsPrefix ? { prefix: options.awsPrefix } : {}),
    git: gitSource,
    repos: repos.catalog,
    targetsDir: paths.targets,
    // Kept in the workdir, so bundles dispatched before a restart still verify after it.
    signing: await localSigningKey(path.join(workdir, 'state')),
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
  // The shared webhook secret, as the stack keeps it (one field per provider), read back by the ingest.
  await pipeline.putSecret(
    `${pipeline.resources.busName}/webhook`,
    Object.fromEntries(PROVIDER_NAMES.map((provider) => [provider, secret])),
  );
  // What `sluice status|trace|rollback|redrive --aws --outputs-file` reads, as `cdk deploy` writes it.
  await writeAwsOutputs(path.join(workdir, 'state', 'aws-outputs.json'), pipeline.resources, {
    CommitSigningKeySecretArn: commitSigningKey,
  });
  const ingest = pipeline.pipeline.ingestDeps();
  const secretFor = async (repo: string) => (await ingest.webhookSecrets('github', repo))[0] ?? secret;
  const edge = await startEdge(options, paths.repos, secretFor, print, (request) =>
    ingestWebhook(ingest, request),
  );
  const { gitUrl, webhookUrl } = edge;
  // The seed commit (and any push missed while stopped) is found by the reconcile consumer, which
  // the stack's schedule feeds: here, a Reconcile Requested now and every --reconcile-seconds.
  repos.set([devRepo(edge.git.url, options)], '--branch');
  const reconciler = scheduleReconcile(
    options,
    new SqsReconcileTrigger({ queueUrl: pipeline.resources.queues.reconcile!, aws }),
    print,
  );
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
    .option(
      '--branch <name>',
      'a branch of the seeded repo that deploys (repeatable; default main); pushes to others are recorded as skipped',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--trust <file>', 'trust policy: which signers may deploy to which targets (docs/provenance.md)')
    .option('--aws', 'run the pipeline on the AWS emulator at AWS_ENDPOINT_URL (docs/aws-emulator.md)')
    .option(
      '--repo <url>',
      'follow this HTTPS repository instead of the built-in git server (docs/real-clusters.md)',
    )
    .option('--poll-seconds <n>', 'with --repo: how often its branch heads are polled', parseSeconds, 10)
    .option(
      '--kubeconfig <file>',
      'kubeconfig for kubeconfig targets (default: KUBECONFIG, else ~/.kube/config)',
    )
    .option(
      '--kube-context <name>',
      'a kubeconfig context targets may name (repeatable; default: the current-context only)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--ui-port <n>', 'dashboard port (0 = any free port)', parsePort('--ui-port'), 7422)
    .option('--ui-read-only', 'the dashboard shows the fleet but offers no rollback or approve')
    .action(async (options: DevOptions) => {
      // Every line may carry a pushed branch, repo or path: escaped before it reaches the terminal.
      const print = (line: string) => console.log(printable(line));
      const dev = options.aws ? await startAwsDev(options, print) : await startDev(options, print);
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
