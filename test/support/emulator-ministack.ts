/**
 * ministack (PyPI, MIT) on the host: the emulator that runs Lambda code. Its default executor
 * starts each Node.js function as a host process with `node` from PATH, so the repo's pinned
 * Node 22 (`node_modules/.bin`) goes first on the PATH it is given. It also serves API Gateway
 * HTTP APIs and deploys CloudFormation, which is what the deployed-stack test needs and LocalStack's
 * free edition cannot do without Docker. Installed from the exact pins in
 * scripts/ministack/requirements.txt into `<repo>/.cache/ministack/venv` on first use.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ensureVenv,
  exited,
  freePort,
  type InstallResult,
  REPO_ROOT,
  type RunningEmulator,
  tail,
} from './emulator.ts';

export const MINISTACK_VERSION = '1.5.33';

export const ministackPaths = (root: string = REPO_ROOT) => {
  const cacheDir = join(root, '.cache', 'ministack');
  const venv = join(cacheDir, 'venv');
  return {
    cacheDir,
    venv,
    python: join(venv, 'bin', 'python'),
    requirements: join(root, 'scripts', 'ministack', 'requirements.txt'),
    stamp: join(venv, '.sluice-requirements.sha256'),
  };
};

export const ensureMinistack = (
  options: { root?: string; log?: (line: string) => void } = {},
): Promise<InstallResult> =>
  ensureVenv({ what: `ministack ${MINISTACK_VERSION}`, ...ministackPaths(options.root), log: options.log });

/**
 * Starts ministack on 127.0.0.1 (a free port) in its own process group, with its own S3 data and
 * temp directory, and resolves once `/_ministack/health` answers. `stop()` ends the whole group
 * (the Lambda worker processes included) and removes its files.
 */
export const startMinistack = async (
  options: { root?: string; logLevel?: string } = {},
): Promise<RunningEmulator> => {
  const paths = ministackPaths(options.root);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  // Outside the repo: ministack writes each function's CommonJS worker script under TMPDIR, and
  // inside the repo Node would take it for ESM (package.json "type": "module") and exit at once.
  const home = mkdtempSync(join(tmpdir(), `sluice-ministack-${port}-`));
  const log = join(home, 'ministack.log');
  const logFd = openSync(log, 'w');
  const { AWS_ENDPOINT_URL: _ignored, ...inherited } = process.env;
  const started = performance.now();
  const child = spawn(paths.python, ['-m', 'ministack'], {
    cwd: home,
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: {
      ...inherited,
      // Lambda functions run as `node` host processes: the pinned Node 22 first.
      PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
      GATEWAY_PORT: String(port),
      BIND_HOST: '127.0.0.1',
      MINISTACK_HOST: '127.0.0.1',
      LAMBDA_EXECUTOR: 'local',
      S3_DATA_DIR: join(home, 's3'),
      TMPDIR: home,
      LOG_LEVEL: options.logLevel ?? 'WARNING',
    },
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`Could not spawn ${paths.python}; run ensureMinistack() first`);

  const stop = async (): Promise<void> => {
    if (!exited(child)) {
      const gone = new Promise<void>((done) => child.once('exit', () => done()));
      try {
        process.kill(-pid, 'SIGTERM');
        const timer = setTimeout(() => {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {}
        }, 10_000);
        await gone;
        clearTimeout(timer);
      } catch {}
    }
    rmSync(home, { recursive: true, force: true });
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited(child)) {
      const why = tail(log);
      await stop();
      throw new Error(`ministack exited before it was ready (code ${child.exitCode}). Log tail:\n${why}`);
    }
    const healthy = await fetch(`${endpoint}/_ministack/health`, { signal: AbortSignal.timeout(2_000) })
      .then((r) => r.ok)
      .catch(() => false);
    if (healthy) break;
    if (Date.now() > deadline) {
      const why = tail(log);
      await stop();
      throw new Error(`ministack at ${endpoint} was not ready in 60 s. Log tail:\n${why}`);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  return { endpoint, port, pid, startMs: Math.round(performance.now() - started), log, stop };
};
