/**
 * The planner's shared branch listings against a real git smart-HTTP server: a burst of pushes
 * costs one listing, and no push is ever answered by a listing older than its receipt.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { type GitServer, initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import { branchHeads } from '../../shared/core/branch-heads.ts';
import type { GitSource } from '../../shared/ports/index.ts';

const exec = promisify(execFile);
const gitCli = async (cwd: string, ...args: string[]): Promise<string> =>
  (await exec('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', ...args], { cwd })).stdout.trim();

let base: string;
let server: GitServer;
let work: string;
let url: string;
let listings: number;
let git: GitSource;
let now: number;
const clock = { now: () => new Date(now) };

const pushCommit = async (message: string): Promise<{ sha: string; receivedAt: Date }> => {
  await writeFile(path.join(work, 'file.txt'), message);
  await gitCli(work, 'commit', '--quiet', '-am', message);
  await gitCli(work, 'push', '--quiet', 'origin', 'main');
  now += 100;
  return { sha: await gitCli(work, 'rev-parse', 'HEAD'), receivedAt: new Date(now) };
};

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'sluice-branch-heads-'));
  const seed = path.join(base, 'seed');
  await exec('mkdir', ['-p', seed]);
  await writeFile(path.join(seed, 'file.txt'), 'seed');
  await initBareRepo(path.join(base, 'repos'), 'app', seed);
  server = await startGitServer({ root: path.join(base, 'repos'), port: 0 });
  url = `${server.url}/app.git`;
  work = path.join(base, 'work');
  await gitCli(base, 'clone', '--quiet', url, work);
  const real = createGitSource({ cacheDir: path.join(base, 'cache') });
  git = {
    ...real,
    head: (...args) => {
      listings += 1;
      return real.head(...args);
    },
  };
});

afterAll(async () => {
  await server?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

describe('branch heads shared by the planner', () => {
  it('answers the superseded pushes of a burst from one listing, and lists again for the newest', async () => {
    // GIVEN five pushes received before the planner looks
    listings = 0;
    now = Date.parse('2026-12-06T12:00:00Z');
    const heads = branchHeads(git, clock, { skewMs: 0 });
    const pushes: { sha: string; receivedAt: Date }[] = [];
    for (let i = 0; i < 5; i++) pushes.push(await pushCommit(`burst ${i}`));
    now += 1500;
    // WHEN each is planned in order
    const answers: (string | undefined)[] = [];
    for (const push of pushes)
      answers.push(await heads.headFor(url, 'main', { commit: push.sha, since: push.receivedAt }));
    // THEN one listing told the four older pushes they are superseded; the newest, named as the
    // head by that shared listing, was confirmed by a listing of its own
    expect(listings).toBe(2);
    expect(answers).toEqual(pushes.map(() => pushes.at(-1)!.sha));
  });

  it('lists again for a push received after the last listing started, and sees that push', async () => {
    listings = 0;
    const heads = branchHeads(git, clock, { skewMs: 0 });
    const first = await pushCommit('first');
    expect(await heads.headFor(url, 'main', { commit: first.sha, since: first.receivedAt })).toBe(first.sha);
    // WHEN a newer push arrives after that listing
    const second = await pushCommit('second');
    // THEN it is not answered with the old head
    expect(await heads.headFor(url, 'main', { commit: second.sha, since: second.receivedAt })).toBe(
      second.sha,
    );
    expect(listings).toBe(2);
  });

  it('trusts no listing that started within the clock skew of a push', async () => {
    listings = 0;
    const heads = branchHeads(git, clock, { skewMs: 1000 });
    const push = await pushCommit('skewed');
    now += 500;
    await heads.headFor(url, 'main', { commit: push.sha, since: push.receivedAt });
    now += 100;
    await heads.headFor(url, 'main', { commit: push.sha, since: push.receivedAt });
    expect(listings).toBe(2);
  });

  it('forgets a failed listing, so the next push lists again', async () => {
    const heads = branchHeads(git, clock, { skewMs: 0 });
    const missing = `${server.url}/missing.git`;
    const since = new Date(now - 1000);
    await expect(heads.headFor(missing, 'main', { commit: 'a'.repeat(40), since })).rejects.toThrow();
    listings = 0;
    await expect(heads.headFor(missing, 'main', { commit: 'a'.repeat(40), since })).rejects.toThrow();
    expect(listings).toBe(1);
  });
});
