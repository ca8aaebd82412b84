import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type DevServer, startDev } from '../../cli/commands/dev.ts';
import type { Envelope } from '../../shared/schemas/events.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

export const EXAMPLE_FLEET = path.resolve(import.meta.dirname, '../../examples/fleet');

/** Runs git with an identity, so tests work on a machine without git config. */
export const git = async (cwd: string, ...args: string[]): Promise<string> =>
  (
    await run(
      'git',
      ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args],
      {
        cwd,
        maxBuffer: 16 * 1024 * 1024,
      },
    )
  ).stdout.trim();

export const tempDir = (prefix: string) => mkdtemp(path.join(tmpdir(), `sluice-${prefix}-`));

export { waitFor };

export interface TestDev {
  readonly dev: DevServer;
  readonly workdir: string;
  readonly clone: string;
  readonly secret: string;
  /** Writes files in the clone, commits and pushes; returns the new commit. */
  push(files: Record<string, string | null>, message: string): Promise<string>;
  events(type?: string): Envelope[];
  stop(): Promise<void>;
}

/** `sluice dev` in this process on free ports, with a clone of its fleet repo, after the seed commit deployed. */
export const startTestDev = async (options: { coalesceMs?: number } = {}): Promise<TestDev> => {
  const workdir = await tempDir('dev');
  const secret = 'test-webhook-secret';
  const dev = await startDev(
    {
      workdir,
      port: 0,
      gitPort: 0,
      webhookSecret: secret,
      seed: EXAMPLE_FLEET,
      coalesceMs: options.coalesceMs ?? 200,
      quiet: true,
    },
    () => undefined,
  );
  await waitFor('the seed commit to deploy', async () => {
    const records = await dev.pipeline.ledger.listDeployments();
    return records.length > 0 && records.every((r) => r.state === 'Healthy') ? true : undefined;
  });
  await dev.pipeline.idle();
  const clone = path.join(workdir, 'clone');
  await git(workdir, 'clone', '--quiet', dev.gitUrl, clone);
  return {
    dev,
    workdir,
    clone,
    secret,
    async push(files, message) {
      for (const [file, content] of Object.entries(files)) {
        const full = path.join(clone, file);
        if (content === null) await rm(full, { force: true });
        else {
          await mkdir(path.dirname(full), { recursive: true });
          await writeFile(full, content);
        }
      }
      await git(clone, 'add', '-A');
      await git(clone, 'commit', '--quiet', '--allow-empty', '-m', message);
      await git(clone, 'push', '--quiet', 'origin', 'HEAD:main');
      return git(clone, 'rev-parse', 'HEAD');
    },
    events(type) {
      return dev.pipeline.bus.events.filter((e) => type === undefined || e['detail-type'] === type);
    },
    async stop() {
      await dev.stop();
      await rm(workdir, { recursive: true, force: true });
    },
  };
};

/**
 * A git smart-HTTP server in its own process (test/support/git-server-process.ts), as a provider
 * would serve `root`'s bare repos: resolves with its base URL once it listens; `stop` ends it.
 */
export const spawnGitServer = async (root: string): Promise<{ url: string; stop(): void }> => {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'git-server-process.ts'), root], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`git server exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      const match = /^url (\S+)/m.exec(chunk.toString());
      if (match?.[1]) ok(match[1]);
    });
  });
  return { url, stop: () => child.stdin?.end() };
};
