/**
 * `sluice dev --aws` for benchmarks and the chaos suite: LocalStack (started here unless
 * AWS_ENDPOINT_URL names a running one), then the same `startAwsDev` the CLI runs, on one config
 * repo `fleet`. A push moves `main` on the git server and sends the signed GitHub webhook, as
 * bench/lib/fleet.ts does for the in-process pipeline, so both are driven the same way.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAwsDev } from '../../cli/commands/dev.ts';
import { workdirPaths } from '../../cli/runtime/local-pipeline.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import {
  EMULATOR_REGION,
  ensureInstalled,
  freePort,
  type RunningEmulator,
  startEmulator,
} from '../../test/support/emulator.ts';
import { bareGit, writeTree } from './fleet.ts';

export const AWS_FLEET_REPO = 'local/fleet';

export interface AwsFleet {
  readonly endpoint: string;
  readonly workdir: string;
  readonly dev: Awaited<ReturnType<typeof startAwsDev>>;
  readonly gitDir: string;
  head(): Promise<string>;
  /** Moves main to `sha` on the git server and delivers the signed push webhook; returns the HTTP status (0: no answer). */
  push(sha: string): Promise<number>;
  /** Stops the emulator process this fleet started (an outage begins). */
  stopEmulator(): Promise<void>;
  /** Starts it again on the same port; the free LocalStack comes back empty. */
  startEmulatorAgain(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts LocalStack (unless AWS_ENDPOINT_URL is set) and `sluice dev --aws` seeded with `files`. */
export const startAwsFleet = async (
  files: Record<string, string>,
  options: {
    coalesceMs?: number;
    log?: (line: string) => void;
    /** Start LocalStack on a free port (not 4566), e.g. to restart it without racing another run for 4566. */
    freePort?: boolean;
    /** The pipeline host's hooks: clusters, the health wait, each invocation (bench/cost.ts). */
    host?: Parameters<typeof startAwsDev>[2];
  } = {},
): Promise<AwsFleet> => {
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  process.env.AWS_REGION ??= EMULATOR_REGION;
  let emulator: RunningEmulator | undefined;
  if (!process.env.AWS_ENDPOINT_URL?.trim()) {
    await ensureInstalled();
    emulator = await startEmulator(options.freePort ? { port: await freePort() } : {});
    process.env.AWS_ENDPOINT_URL = emulator.endpoint;
  }
  const endpoint = process.env.AWS_ENDPOINT_URL!;
  const workdir = await mkdtemp(path.join(tmpdir(), 'sluice-aws-fleet-'));
  const seed = path.join(workdir, 'seed');
  await writeTree(seed, files);
  const webhookSecret = `bench-${path.basename(workdir)}`;
  const dev = await startAwsDev(
    {
      workdir: path.join(workdir, '.sluice'),
      port: 0,
      gitPort: 0,
      seed,
      webhookSecret,
      coalesceMs: options.coalesceMs ?? 0,
      quiet: true,
    },
    options.log ?? (() => {}),
    options.host ?? {},
  );
  const gitDir = path.join(workdirPaths(path.join(workdir, '.sluice')).repos, 'fleet.git');
  const head = () => bareGit(gitDir, 'rev-parse', 'refs/heads/main');
  return {
    endpoint,
    workdir,
    dev,
    gitDir,
    head,
    async push(sha) {
      const before = await head();
      await bareGit(gitDir, 'update-ref', 'refs/heads/main', sha);
      const answer = await sendWebhook({
        url: dev.webhookUrl,
        secret: webhookSecret,
        event: 'push',
        payload: githubPushPayload({
          repo: AWS_FLEET_REPO,
          cloneUrl: dev.gitUrl,
          ref: 'refs/heads/main',
          before,
          after: sha,
          message: 'bench push',
        }),
      }).catch(() => ({ status: 0 }));
      return answer.status;
    },
    async stopEmulator() {
      if (emulator === undefined)
        throw new Error('AWS_ENDPOINT_URL was given: not stopping an emulator this did not start');
      await emulator.stop();
    },
    async startEmulatorAgain() {
      if (emulator === undefined)
        throw new Error('AWS_ENDPOINT_URL was given: not starting an emulator this did not start');
      emulator = await startEmulator({ port: emulator.port });
    },
    async stop() {
      await dev.stop();
      await emulator?.stop();
      if (emulator) delete process.env.AWS_ENDPOINT_URL;
      await rm(workdir, { recursive: true, force: true });
    },
  };
};
