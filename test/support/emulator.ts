/**
 * The local AWS emulator: LocalStack (community, `localstack-core` 4.13.1) run on the host with
 * no Docker. Installed from PyPI into `<repo>/.cache/localstack/venv` on first use, from the exact
 * pins in scripts/localstack/requirements.txt; nothing is downloaded at run time.
 *
 * Used three ways: as a vitest globalSetup (default export, see vitest.aws.config.ts), by
 * scripts/emulator.mjs (start/stop/status from a shell), and by anything that wants an endpoint.
 * When AWS_ENDPOINT_URL is already set, that endpoint is used as is and nothing is started, so a
 * licensed LocalStack (or any other emulator) works unchanged.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const LOCALSTACK_VERSION = '4.13.1';
/** DynamoDB is absent on purpose: LocalStack runs it on DynamoDB Local, which it downloads (with a JDK) at run time. */
export const EMULATOR_SERVICES = [
  'events',
  'sqs',
  's3',
  'secretsmanager',
  'cloudwatch',
  'sts',
  'iam',
] as const;
export const EMULATOR_REGION = 'us-east-1';

export interface EmulatorPaths {
  readonly cacheDir: string;
  readonly venv: string;
  readonly python: string;
  readonly requirements: string;
  readonly launcher: string;
  readonly stamp: string;
  readonly log: string;
  /** Written by scripts/emulator.mjs for the emulator it leaves running. */
  readonly state: string;
}

export const emulatorPaths = (root: string = REPO_ROOT): EmulatorPaths => {
  const cacheDir = join(root, '.cache', 'localstack');
  const venv = join(cacheDir, 'venv');
  return {
    cacheDir,
    venv,
    python: join(venv, 'bin', 'python'),
    requirements: join(root, 'scripts', 'localstack', 'requirements.txt'),
    launcher: join(root, 'scripts', 'localstack', 'launch.py'),
    stamp: join(venv, '.sluice-requirements.sha256'),
    log: join(cacheDir, 'localstack.log'),
    state: join(cacheDir, 'emulator.json'),
  };
};

export interface InstallResult {
  readonly installed: boolean;
  readonly ms: number;
}

/**
 * Creates the venv and installs the pinned requirements unless the venv already holds exactly
 * those pins (a stamp of the requirements file's hash). Python: SLUICE_PYTHON, else python3.11.
 */
export const ensureInstalled = async (
  options: { root?: string; python?: string; log?: (line: string) => void } = {},
): Promise<InstallResult> => {
  const paths = emulatorPaths(options.root);
  return ensureVenv({
    what: `localstack-core ${LOCALSTACK_VERSION}`,
    ...paths,
    interpreter: options.python,
    log: options.log,
  });
};

/**
 * One emulator's venv (LocalStack's or ministack's): created and filled from an exact-pin
 * requirements file with `--no-deps` (the file pins the whole closure, so the resolver cannot
 * drift to versions that break the emulator; see docs/aws-emulator.md), then `pip check`.
 */
export const ensureVenv = async (options: {
  what: string;
  cacheDir: string;
  venv: string;
  requirements: string;
  stamp: string;
  /** The Python that creates the venv. @default SLUICE_PYTHON, else python3.11 */
  interpreter?: string | undefined;
  log?: ((line: string) => void) | undefined;
}): Promise<InstallResult> => {
  const venvPython = join(options.venv, 'bin', 'python');
  const log = options.log ?? (() => {});
  const wanted = createHash('sha256').update(readFileSync(options.requirements)).digest('hex');
  if (existsSync(venvPython) && existsSync(options.stamp) && readFileSync(options.stamp, 'utf8') === wanted) {
    return { installed: false, ms: 0 };
  }
  const started = performance.now();
  const python = options.interpreter ?? process.env.SLUICE_PYTHON ?? 'python3.11';
  log(`installing ${options.what} into ${options.venv} with ${python} (first use only)`);
  rmSync(options.venv, { recursive: true, force: true });
  mkdirSync(options.cacheDir, { recursive: true });
  try {
    await run(python, ['-m', 'venv', options.venv]);
    await run(venvPython, ['-m', 'pip', 'install', '--quiet', '--no-deps', '-r', options.requirements], {
      maxBuffer: 16 * 1024 * 1024,
    });
    await run(venvPython, ['-m', 'pip', 'check']);
  } catch (error) {
    rmSync(options.venv, { recursive: true, force: true });
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(
      `Installing ${options.what} into ${options.venv} failed: ${stderr.trim().split('\n').slice(-5).join('\n') || String(error)}. ` +
        'Fix: make sure Python 3.11 (or SLUICE_PYTHON) and PyPI are reachable, or set AWS_ENDPOINT_URL to a running emulator.',
      { cause: error },
    );
  }
  writeFileSync(options.stamp, wanted);
  const ms = Math.round(performance.now() - started);
  log(`installed ${options.what} in ${ms} ms`);
  return { installed: true, ms };
};

export interface RunningEmulator {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Milliseconds from spawn to every service reported ready. */
  readonly startMs: number;
  readonly log: string;
  stop(): Promise<void>;
}

export const portIsFree = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });

export const freePort = (): Promise<number> =>
  new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => done(port));
    });
  });

export const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

export const tail = (file: string, lines = 20): string => {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
};

/** Polls `/_localstack/health` until every requested service is `available` or `running`. */
export const waitForHealth = async (
  endpoint: string,
  services: readonly string[],
  options: { timeoutMs?: number; child?: ChildProcess; log?: string } = {},
): Promise<void> => {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (options.child && exited(options.child)) {
      throw new Error(
        `LocalStack exited before it was ready (code ${options.child.exitCode}). Log tail:\n${tail(options.log ?? '')}`,
      );
    }
    try {
      const response = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(2_000) });
      const body = (await response.json()) as { services?: Record<string, string> };
      const missing = services.filter(
        (name) => !['available', 'running'].includes(body.services?.[name] ?? ''),
      );
      if (missing.length === 0) return;
      last = `waiting for ${missing.join(', ')}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  throw new Error(
    `LocalStack at ${endpoint} was not ready in time (${last}). Log tail:\n${tail(options.log ?? '')}`,
  );
};

/**
 * Starts LocalStack on 127.0.0.1 (a free port; 4566 only when asked, so two runs on one machine — or a
 * user's own LocalStack — never answer each other's health checks) in its own process
 * group and resolves once every service is ready. `stop()` ends the whole group.
 */
export const startEmulator = async (
  options: { root?: string; port?: number; services?: readonly string[] } = {},
): Promise<RunningEmulator> => {
  const paths = emulatorPaths(options.root);
  const services = options.services ?? EMULATOR_SERVICES;
  const port = options.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  mkdirSync(paths.cacheDir, { recursive: true });
  // Two emulators (a `scripts/emulator.mjs start` one and a test run's) must not share a log or
  // a filesystem root: LocalStack clears its tmp directory on start.
  const log = port === 4566 ? paths.log : join(paths.cacheDir, `localstack-${port}.log`);
  const filesystemRoot = join(paths.cacheDir, port === 4566 ? 'fs' : `fs-${port}`);
  const logFd = openSync(log, 'w');
  const { AWS_ENDPOINT_URL: _ignored, ...inherited } = process.env;
  const started = performance.now();
  const child = spawn(paths.python, [paths.launcher], {
    cwd: paths.cacheDir,
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: {
      ...inherited,
      OVERRIDE_IN_DOCKER: '0',
      DNS_ADDRESS: '0',
      GATEWAY_LISTEN: `127.0.0.1:${port}`,
      // Queue URLs and other generated URLs must point back at this gateway, not at a DNS name.
      LOCALSTACK_HOST: `127.0.0.1:${port}`,
      SKIP_SSL_CERT_DOWNLOAD: '1',
      DISABLE_EVENTS: '1',
      SQS_ENDPOINT_STRATEGY: 'path',
      SERVICES: services.join(','),
      EAGER_SERVICE_LOADING: '1',
      // Kept between runs: LocalStack caches its service catalog here (saves ~2.5 s a start).
      FILESYSTEM_ROOT: filesystemRoot,
      LOCALSTACK_VOLUME_DIR: join(filesystemRoot, 'volume'),
    },
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`Could not spawn ${paths.python}; run ensureInstalled() first`);

  const stop = async (): Promise<void> => {
    if (exited(child)) return;
    const gone = new Promise<void>((done) => child.once('exit', () => done()));
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    }, 10_000);
    await gone;
    clearTimeout(timer);
    if (port !== 4566) rmSync(filesystemRoot, { recursive: true, force: true });
  };

  try {
    await waitForHealth(endpoint, services, { child, log });
  } catch (error) {
    await stop();
    throw error;
  }
  const startMs = Math.round(performance.now() - started);
  return { endpoint, port, pid, startMs, log, stop };
};

declare module 'vitest' {
  export interface ProvidedContext {
    awsEndpoint: string;
    awsRegion: string;
    /** True when the endpoint came from AWS_ENDPOINT_URL (the user's emulator), not the LocalStack started here. */
    awsEndpointGiven: boolean;
  }
}

/** vitest globalSetup: provides `awsEndpoint`/`awsRegion` to the suites; stops what it started. */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.AWS_ENDPOINT_URL?.trim();
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? EMULATOR_REGION;
  process.env.AWS_REGION = region;
  project.provide('awsRegion', region);
  if (given) {
    console.log(`[emulator] using AWS_ENDPOINT_URL=${given}; not starting LocalStack`);
    project.provide('awsEndpoint', given);
    project.provide('awsEndpointGiven', true);
    return undefined;
  }
  const install = await ensureInstalled({ log: (line) => console.log(`[emulator] ${line}`) });
  const emulator = await startEmulator();
  console.log(
    `[emulator] LocalStack ${LOCALSTACK_VERSION} ready at ${emulator.endpoint} in ${emulator.startMs} ms` +
      (install.installed ? ` (install took ${install.ms} ms)` : ''),
  );
  process.env.AWS_ENDPOINT_URL = emulator.endpoint;
  project.provide('awsEndpoint', emulator.endpoint);
  project.provide('awsEndpointGiven', false);
  return () => emulator.stop();
}
