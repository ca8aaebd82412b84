import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { type GitServer, initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';

const exec = promisify(execFile);

/** The git CLI with a throwaway identity; async, because the server runs in this process. */
const gitCli = async (cwd: string, ...args: string[]): Promise<string> =>
  (await exec('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', ...args], { cwd })).stdout.trim();

let base: string;
let root: string;
let seed: string;
let server: GitServer;
let failing: http.Server;
let failingUrl: string;
let cacheCount = 0;

/** A fresh cache directory, so a test sees what a cold Lambda would. */
const freshCache = (): string => path.join(base, `cache-${++cacheCount}`);

const cloneOf = async (name: string): Promise<{ work: string; url: string }> => {
  await initBareRepo(root, name, seed);
  const url = `${server.url}/${name}.git`;
  const work = path.join(base, `work-${name}`);
  await gitCli(base, 'clone', '--quiet', url, work);
  return { work, url };
};

const commit = async (
  work: string,
  files: Record<string, string | null>,
  message = 'change',
): Promise<string> => {
  for (const [file, content] of Object.entries(files)) {
    const full = path.join(work, file);
    if (content === null) {
      await rm(full);
    } else {
      await mkdir(path.dirname(full), { recursive: true });
      await writeFile(full, content);
    }
  }
  await gitCli(work, 'add', '--all');
  await gitCli(work, 'commit', '--quiet', '--allow-empty', '-m', message);
  return gitCli(work, 'rev-parse', 'HEAD');
};

const push = (work: string, ...args: string[]) => gitCli(work, 'push', '--quiet', ...args, 'origin', 'main');

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'sluice-git-source-'));
  root = path.join(base, 'repos');
  seed = path.join(base, 'seed');
  await mkdir(path.join(seed, 'apps/web'), { recursive: true });
  await mkdir(path.join(seed, 'apps/api'), { recursive: true });
  await writeFile(path.join(seed, 'sluice.yaml'), 'kind: Fleet\n');
  await writeFile(path.join(seed, 'apps/web/deploy.yaml'), 'kind: Deployment\n');
  await writeFile(path.join(seed, 'apps/web/values.yaml'), 'replicas: 1\n');
  await writeFile(path.join(seed, 'apps/api/deploy.yaml'), 'kind: Deployment\n');
  server = await startGitServer({ root });
  // The one fault the real server cannot be made to produce on demand: a 503 from a proxy.
  failing = http.createServer((_req, res) => {
    res.writeHead(503);
    res.end('maintenance');
  });
  await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
  failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/fleet.git`;
});

afterAll(async () => {
  await server.close();
  await new Promise((resolve) => failing.close(resolve));
  await rm(base, { recursive: true, force: true });
});

describe('createGitSource', () => {
  it('reads the head of a branch, and undefined for a missing branch', async () => {
    // GIVEN a repository with a pushed commit
    const { work, url } = await cloneOf('heads');
    const sha = await commit(work, { 'apps/web/values.yaml': 'replicas: 2\n' });
    await push(work);
    const source = createGitSource({ cacheDir: freshCache() });
    // WHEN heads are asked for  THEN main is the pushed commit and a missing branch is undefined
    expect(await source.head(url, 'main')).toBe(sha);
    expect(await source.head(url, 'does-not-exist')).toBeUndefined();
  });

  it('checks out a commit as a tree that lists and reads files, once per commit', async () => {
    // GIVEN a repository whose main holds the seed plus one change
    const { work, url } = await cloneOf('checkout');
    const sha = await commit(work, { 'apps/web/values.yaml': 'replicas: 3\n' });
    await push(work);
    const cacheDir = freshCache();
    const source = createGitSource({ cacheDir });
    // WHEN the commit is checked out twice
    const tree = await source.checkout(url, 'main', sha);
    const again = await source.checkout(url, 'main', sha);
    // THEN the files are there, sorted and repo-relative, and the second call reused the first tree
    expect(tree.commit).toBe(sha);
    expect(tree.root).toBe(path.join(cacheDir, 'trees', sha));
    expect(again.root).toBe(tree.root);
    expect(await tree.list('.')).toEqual([
      'apps/api/deploy.yaml',
      'apps/web/deploy.yaml',
      'apps/web/values.yaml',
      'sluice.yaml',
    ]);
    expect(await tree.list('apps/web')).toEqual(['apps/web/deploy.yaml', 'apps/web/values.yaml']);
    expect(await tree.read('apps/web/values.yaml')).toBe('replicas: 3\n');
    expect(await tree.read('apps/web/missing.yaml')).toBeUndefined();
    expect((await readdir(path.join(cacheDir, 'trees'))).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('refuses tree paths outside the checkout root', async () => {
    // GIVEN a checked-out tree
    const { url } = await cloneOf('escape');
    const source = createGitSource({ cacheDir: freshCache() });
    const head = (await source.head(url, 'main'))!;
    const tree = await source.checkout(url, 'main', head);
    // WHEN a path climbs out of it  THEN it is refused as bad input
    await expect(tree.read('../../repos/escape.git/config')).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(tree.list('../')).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('reports exactly the paths a push changed', async () => {
    // GIVEN a seeded repository
    const { work, url } = await cloneOf('changes');
    const seeded = await gitCli(work, 'rev-parse', 'HEAD');
    const empty = await commit(work, {}, 'empty');
    const webOnly = await commit(work, {
      'apps/web/values.yaml': 'replicas: 4\n',
      'apps/web/hpa.yaml': 'kind: HPA\n',
    });
    const mixed = await commit(work, { 'apps/api/deploy.yaml': null, 'sluice.yaml': 'kind: Fleet\n# v2\n' });
    await push(work);
    const source = createGitSource({ cacheDir: freshCache() });
    // WHEN changed paths are asked for successive pairs
    // THEN null means every file, an empty commit changes nothing, and only the touched paths are listed
    expect(await source.changedPaths(url, 'main', null, seeded)).toEqual([
      'apps/api/deploy.yaml',
      'apps/web/deploy.yaml',
      'apps/web/values.yaml',
      'sluice.yaml',
    ]);
    expect(await source.changedPaths(url, 'main', seeded, empty)).toEqual([]);
    expect(await source.changedPaths(url, 'main', empty, webOnly)).toEqual([
      'apps/web/hpa.yaml',
      'apps/web/values.yaml',
    ]);
    expect(await source.changedPaths(url, 'main', webOnly, mixed)).toEqual([
      'apps/api/deploy.yaml',
      'sluice.yaml',
    ]);
    expect(await source.changedPaths(url, 'main', mixed, seeded)).toEqual([
      'apps/api/deploy.yaml',
      'apps/web/hpa.yaml',
      'apps/web/values.yaml',
      'sluice.yaml',
    ]);
  });

  it('returns undefined changed paths when the old commit was rewritten away', async () => {
    // GIVEN a commit that a force push removed from the branch
    const { work, url } = await cloneOf('rewritten');
    const seeded = await gitCli(work, 'rev-parse', 'HEAD');
    const lost = await commit(work, { 'apps/web/values.yaml': 'replicas: 9\n' });
    await push(work);
    await gitCli(work, 'reset', '--quiet', '--hard', seeded);
    const replacement = await commit(work, { 'apps/api/deploy.yaml': 'kind: StatefulSet\n' });
    await push(work, '--force');
    // WHEN a cold source diffs from the lost commit
    const source = createGitSource({ cacheDir: freshCache() });
    // THEN the answer is "unknown", and the lost commit is neither checkable out nor an ancestor
    expect(await source.changedPaths(url, 'main', lost, replacement)).toBeUndefined();
    await expect(source.checkout(url, 'main', lost)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(new RegExp(`commit ${lost} on branch main of .*rewritten\\.git.*Fix: `)),
    });
    expect(await source.isAncestor(url, 'main', lost, replacement)).toBe(false);
  });

  it('deepens a shallow cache to reach older commits, within a bound', async () => {
    // GIVEN twelve commits and a source that fetches 2 commits, then deepens once by 5
    const { work, url } = await cloneOf('deep');
    const shas: string[] = [];
    for (let i = 0; i < 12; i++)
      shas.push(await commit(work, { 'apps/web/values.yaml': `replicas: ${i}\n` }));
    await push(work);
    const bounded = () => createGitSource({ cacheDir: freshCache(), depth: 2, deepen: [5] });
    const source = bounded();
    // WHEN the head and a commit 5 back are asked for, then (cold) one 11 back
    const head = await source.checkout(url, 'main', shas[11]!);
    const older = await source.checkout(url, 'main', shas[6]!);
    const far = bounded();
    // THEN the near ones are found by deepening, the far one is reported missing with a fix
    expect(await head.read('apps/web/values.yaml')).toBe('replicas: 11\n');
    expect(await older.read('apps/web/values.yaml')).toBe('replicas: 6\n');
    await expect(far.checkout(url, 'main', shas[0]!)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/only the last 7 commits/),
    });
    expect(await bounded().changedPaths(url, 'main', shas[0]!, shas[11]!)).toBeUndefined();
    // AND a miss deepens the cache for later calls (each call is bounded, not the cache)
    expect(await source.changedPaths(url, 'main', shas[0]!, shas[11]!)).toEqual(['apps/web/values.yaml']);
  });

  it('tells ancestors from non-ancestors', async () => {
    // GIVEN a linear history of three commits
    const { work, url } = await cloneOf('ancestry');
    const a = await commit(work, { 'a.txt': 'a' });
    const b = await commit(work, { 'b.txt': 'b' });
    const c = await commit(work, { 'c.txt': 'c' });
    await push(work);
    const source = createGitSource({ cacheDir: freshCache(), depth: 1 });
    // WHEN pairs are compared  THEN only older-to-newer (and equal) pairs are ancestors
    expect(await source.isAncestor(url, 'main', a, c)).toBe(true);
    expect(await source.isAncestor(url, 'main', b, c)).toBe(true);
    expect(await source.isAncestor(url, 'main', c, a)).toBe(false);
    expect(await source.isAncestor(url, 'main', c, c)).toBe(true);
    expect(await source.isAncestor(url, 'main', 'f'.repeat(40), c)).toBe(false);
  });

  it('serialises concurrent operations on one repository', async () => {
    // GIVEN a cold cache and a few commits
    const { work, url } = await cloneOf('concurrent');
    const first = await commit(work, { 'apps/web/values.yaml': 'replicas: 5\n' });
    const second = await commit(work, { 'apps/api/deploy.yaml': 'kind: Job\n' });
    await push(work);
    const source = createGitSource({ cacheDir: freshCache() });
    // WHEN several operations start at once
    const [tree, changed, ancestor] = await Promise.all([
      source.checkout(url, 'main', second),
      source.changedPaths(url, 'main', first, second),
      source.isAncestor(url, 'main', first, second),
      source.checkout(url, 'main', first),
    ]);
    // THEN each gets the right answer
    expect(await tree.read('apps/api/deploy.yaml')).toBe('kind: Job\n');
    expect(changed).toEqual(['apps/api/deploy.yaml']);
    expect(ancestor).toBe(true);
  });

  it('reports a git server that is down as retryable, without credentials in the message', async () => {
    // GIVEN a server that has stopped, addressed with credentials in the URL
    const gone = await startGitServer({ root });
    const url = `http://robot:s3cret-token@127.0.0.1:${gone.port}/heads.git`;
    await gone.close();
    const source = createGitSource({ cacheDir: freshCache() });
    // WHEN it is asked for a head or a checkout
    const headError = await source.head(url, 'main').catch((error: unknown) => error);
    const checkoutError = await source.checkout(url, 'main', 'a'.repeat(40)).catch((error: unknown) => error);
    // THEN both fail as UNAVAILABLE and retryable, and never echo the secret
    for (const error of [headError, checkoutError]) {
      expect(error).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
      expect(JSON.stringify(error)).not.toContain('s3cret');
      expect(String((error as Error).message)).not.toContain('s3cret');
    }
  });

  it('reports an HTTP 5xx from the git server as retryable', async () => {
    // GIVEN a server answering 503  WHEN a head is asked for  THEN it is UNAVAILABLE and retryable
    const source = createGitSource({ cacheDir: freshCache() });
    await expect(source.head(failingUrl, 'main')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      retryable: true,
    });
  });
});
