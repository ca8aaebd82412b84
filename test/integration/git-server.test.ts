import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  type GitServer,
  initBareRepo,
  type PushUpdate,
  startGitServer,
  ZERO_SHA,
} from '../../shared/adapters/local/git-server.ts';

const exec = promisify(execFile);

/** The git CLI with a throwaway identity; async, because the server runs in this process. */
const gitCli = async (cwd: string, ...args: string[]): Promise<string> =>
  (await exec('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', ...args], { cwd })).stdout.trim();

let base: string;
let root: string;
let seed: string;
let server: GitServer;
const updates: PushUpdate[] = [];
let failingServer: GitServer;
const failingCalls: PushUpdate[] = [];

const waitForUpdates = async (list: PushUpdate[], count: number): Promise<PushUpdate[]> => {
  await vi.waitFor(() => expect(list.length).toBeGreaterThanOrEqual(count), { timeout: 5_000, interval: 10 });
  return list.splice(0, list.length);
};

/** A fresh bare repository, seeded, plus a clone of it to push from. */
const cloneOf = async (name: string): Promise<string> => {
  await initBareRepo(root, name, seed);
  const work = path.join(base, `work-${name}`);
  await gitCli(base, 'clone', '--quiet', `${server.url}/${name}.git`, work);
  return work;
};

const commitFile = async (work: string, file: string, content: string): Promise<string> => {
  await mkdir(path.dirname(path.join(work, file)), { recursive: true });
  await writeFile(path.join(work, file), content);
  await gitCli(work, 'add', '--all');
  await gitCli(work, 'commit', '--quiet', '-m', `change ${file}`);
  return gitCli(work, 'rev-parse', 'HEAD');
};

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'sluice-git-server-'));
  root = path.join(base, 'repos');
  seed = path.join(base, 'seed');
  await mkdir(path.join(seed, 'apps/web'), { recursive: true });
  await writeFile(path.join(seed, 'sluice.yaml'), 'kind: Fleet\n');
  await writeFile(path.join(seed, 'apps/web/deploy.yaml'), 'kind: Deployment\n');
  server = await startGitServer({ root, onPush: (update) => void updates.push(update) });
  failingServer = await startGitServer({
    root,
    onPush: (update) => {
      failingCalls.push(update);
      throw new Error('callback exploded');
    },
  });
});

afterAll(async () => {
  await server.close();
  await failingServer.close();
  await rm(base, { recursive: true, force: true });
});

describe('initBareRepo', () => {
  it('seeds a new repository with one commit on main and leaves an existing one alone', async () => {
    // GIVEN a seed directory  WHEN a repository is created from it, then created again with other content
    const repo = await initBareRepo(root, 'seeded', seed);
    const first = await gitCli(repo, 'rev-parse', 'refs/heads/main');
    const other = path.join(base, 'other-seed');
    await mkdir(other, { recursive: true });
    await writeFile(path.join(other, 'x.txt'), 'x\n');
    const again = await initBareRepo(root, 'seeded', other);
    // THEN the path is the same, main holds exactly the seed's files, and the second call changed nothing
    expect(again).toBe(repo);
    expect(repo).toBe(path.join(root, 'seeded.git'));
    expect(await gitCli(repo, 'rev-parse', 'refs/heads/main')).toBe(first);
    expect((await gitCli(repo, 'ls-tree', '-r', '--name-only', 'main')).split('\n')).toEqual([
      'apps/web/deploy.yaml',
      'sluice.yaml',
    ]);
    expect(await gitCli(repo, 'config', 'http.receivepack')).toBe('true');
    expect(await gitCli(repo, 'symbolic-ref', 'HEAD')).toBe('refs/heads/main');
  });
});

describe('startGitServer', () => {
  it('serves clones and reports a push to an existing branch with exact before and after', async () => {
    // GIVEN a clone of a seeded repository
    const work = await cloneOf('update');
    const before = await gitCli(work, 'rev-parse', 'HEAD');
    // WHEN a commit is pushed to main
    const after = await commitFile(work, 'apps/web/deploy.yaml', 'kind: Deployment\nreplicas: 2\n');
    await gitCli(work, 'push', '--quiet', 'origin', 'main');
    // THEN onPush reports exactly that move, after the push completed
    expect(await waitForUpdates(updates, 1)).toEqual([
      { repo: 'update', ref: 'refs/heads/main', before, after },
    ]);
    expect(await gitCli(path.join(root, 'update.git'), 'rev-parse', 'main')).toBe(after);
  });

  it('reports new, force-pushed and deleted refs, one call per ref in ref order', async () => {
    // GIVEN a clone with one pushed commit on main
    const work = await cloneOf('lifecycle');
    const seeded = await gitCli(work, 'rev-parse', 'HEAD');
    const first = await commitFile(work, 'a.txt', 'a\n');
    await gitCli(work, 'push', '--quiet', 'origin', 'main');
    await waitForUpdates(updates, 1);

    // WHEN one push creates two branches
    await gitCli(work, 'push', '--quiet', 'origin', 'main:zeta', 'main:alpha');
    // THEN both are reported as new, sorted by ref
    expect(await waitForUpdates(updates, 2)).toEqual([
      { repo: 'lifecycle', ref: 'refs/heads/alpha', before: ZERO_SHA, after: first },
      { repo: 'lifecycle', ref: 'refs/heads/zeta', before: ZERO_SHA, after: first },
    ]);

    // WHEN main is rewritten and force-pushed
    await gitCli(work, 'reset', '--quiet', '--hard', seeded);
    const rewritten = await commitFile(work, 'b.txt', 'b\n');
    await gitCli(work, 'push', '--quiet', '--force', 'origin', 'main');
    // THEN before is the lost commit and after the new one
    expect(await waitForUpdates(updates, 1)).toEqual([
      { repo: 'lifecycle', ref: 'refs/heads/main', before: first, after: rewritten },
    ]);

    // WHEN a branch is deleted
    await gitCli(work, 'push', '--quiet', 'origin', ':zeta');
    // THEN after is all zeros
    expect(await waitForUpdates(updates, 1)).toEqual([
      { repo: 'lifecycle', ref: 'refs/heads/zeta', before: first, after: ZERO_SHA },
    ]);
  });

  it('serialises concurrent pushes to one repository so each report is exact', async () => {
    // GIVEN three local commits
    const work = await cloneOf('parallel');
    const shas: string[] = [];
    for (const name of ['one', 'two', 'three']) shas.push(await commitFile(work, `${name}.txt`, name));
    // WHEN three branches are pushed concurrently
    await Promise.all(
      shas.map((sha, index) => gitCli(work, 'push', '--quiet', 'origin', `${sha}:refs/heads/b${index}`)),
    );
    // THEN each branch is reported once as new with its own sha
    const reported = await waitForUpdates(updates, 3);
    expect(reported.sort((a, b) => a.ref.localeCompare(b.ref))).toEqual(
      shas.map((sha, index) => ({
        repo: 'parallel',
        ref: `refs/heads/b${index}`,
        before: ZERO_SHA,
        after: sha,
      })),
    );
  });

  it('keeps serving when an onPush callback throws', async () => {
    // GIVEN a server whose callback always throws
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await initBareRepo(root, 'fragile', seed);
      const work = path.join(base, 'work-fragile');
      await gitCli(base, 'clone', '--quiet', `${failingServer.url}/fragile.git`, work);
      // WHEN two pushes land
      await commitFile(work, 'one.txt', '1');
      await gitCli(work, 'push', '--quiet', 'origin', 'main');
      await waitForUpdates(failingCalls, 1);
      const second = await commitFile(work, 'two.txt', '2');
      await gitCli(work, 'push', '--quiet', 'origin', 'main');
      // THEN both pushes succeed, both callbacks ran, and the failure was logged
      expect((await waitForUpdates(failingCalls, 1))[0]?.after).toBe(second);
      expect(stderr.mock.calls.some(([line]) => String(line).includes('callback exploded'))).toBe(true);
    } finally {
      stderr.mockRestore();
    }
  });

  it('accepts gzip-encoded request bodies, as git clients send for long negotiations', async () => {
    // GIVEN a seeded repository and a gzipped upload-pack request wanting its head
    const repo = await initBareRepo(root, 'gzipped', seed);
    const head = await gitCli(repo, 'rev-parse', 'main');
    const body = gzipSync(Buffer.from(`003ewant ${head} no-progress\n00000009done\n`));
    // WHEN it is posted with Content-Encoding: gzip
    const response = await fetch(`${server.url}/gzipped.git/git-upload-pack`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-git-upload-pack-request', 'content-encoding': 'gzip' },
      body,
    });
    // THEN http-backend inflates it and answers with a pack
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-git-upload-pack-result');
    expect(Buffer.from(await response.arrayBuffer()).includes('PACK')).toBe(true);
  });

  it('answers 404 for paths outside a repository', async () => {
    // GIVEN the server (http-backend's complaints are expected here, so kept off the test output)
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    onTestFinished(() => stderr.mockRestore());
    // WHEN a non-repository, a missing repository and a climbing path are requested  THEN all are 404
    expect((await fetch(`${server.url}/nothing-here`)).status).toBe(404);
    expect((await fetch(`${server.url}/missing.git/info/refs?service=git-upload-pack`)).status).toBe(404);
    const climbing = await new Promise<number | undefined>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: server.port, path: '/../repos/update.git/info/refs' }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .on('error', reject);
    });
    expect(climbing).toBe(404);
  });

  it('closes promptly while a keep-alive connection is open', async () => {
    // GIVEN a separate server with an idle keep-alive client connection
    const extra = await startGitServer({ root });
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: extra.port, path: '/update.git/HEAD', agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
    // WHEN it is closed  THEN it stops well within a second
    const started = performance.now();
    await extra.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    agent.destroy();
  });
});
