import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitWriter } from '../../shared/adapters/git/git-writer.ts';
import { createGithubPullRequests } from '../../shared/adapters/github/pull-request.ts';
import { initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import { MemorySecretStore } from '../../shared/adapters/local/memory.ts';
import { cloudWatchAlarmEvent, matchAlarm, parseAlarmEvent } from '../../shared/core/alarms.ts';
import { parseFleetConfig } from '../../shared/core/config.ts';
import { git, tempDir } from '../support/dev-harness.ts';

const FLEET = `apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - { name: a, cloud: onprem, region: r1 }
apps:
  - name: web
    path: apps/web
    targets: {}
    alarms:
      - name: web-errors
      - arn: arn:aws:cloudwatch:eu-west-1:111111111111:alarm:web-latency
        target: a
      - tag: { key: team, value: web }
  - name: db
    path: apps/db
    targets: {}
`;

describe('matchAlarm', () => {
  const config = parseFleetConfig(FLEET);
  const event = (name: string, tags?: Record<string, string>) =>
    parseAlarmEvent(
      cloudWatchAlarmEvent({
        id: 'e1',
        name,
        at: new Date('2026-01-01T00:00:00Z'),
        region: 'eu-west-1',
        account: '111111111111',
        ...(tags ? { tags } : {}),
      }),
    );

  it('maps an alarm to apps by name, ARN or tag, and ignores the rest', () => {
    // GIVEN the fleet above WHEN alarms arrive THEN each maps as sluice.yaml says
    expect(matchAlarm(config, event('web-errors')).map((m) => [m.app.name, m.by, m.target])).toEqual([
      ['web', 'name', undefined],
    ]);
    expect(matchAlarm(config, event('web-latency')).map((m) => [m.app.name, m.by, m.target])).toEqual([
      ['web', 'arn', 'a'],
    ]);
    expect(matchAlarm(config, event('other', { team: 'web' })).map((m) => m.by)).toEqual(['tag']);
    expect(matchAlarm(config, event('other', { team: 'db' }))).toEqual([]);
  });

  it('reads the CloudWatch timestamp format (+0000) as the time the alarm changed state', () => {
    expect(event('web-errors').at.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });
});

describe('GitWriter.revertPaths (isomorphic-git against the real git server)', () => {
  let root: string;
  let clone: string;
  let server: Awaited<ReturnType<typeof startGitServer>>;
  const commit = async (files: Record<string, string>, message: string) => {
    for (const [file, text] of Object.entries(files)) {
      await import('node:fs/promises').then(async (fs) => {
        await fs.mkdir(path.dirname(path.join(clone, file)), { recursive: true });
        await fs.writeFile(path.join(clone, file), text);
      });
    }
    await git(clone, 'add', '-A');
    await git(clone, 'commit', '-q', '-m', message);
    await git(clone, 'push', '-q', 'origin', 'HEAD:main');
    return git(clone, 'rev-parse', 'HEAD');
  };

  beforeAll(async () => {
    root = await tempDir('writer');
    await initBareRepo(path.join(root, 'repos'), 'fleet');
    server = await startGitServer({ root: path.join(root, 'repos') });
    clone = path.join(root, 'clone');
    await git(root, 'clone', '-q', `${server.url}/fleet.git`, clone);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('reverts only the app paths, and reports a conflict with a newer commit instead of forcing', async () => {
    // GIVEN a good commit, a bad one touching two apps, and a newer one changing the db app again
    const good = await commit({ 'apps/web/a.yaml': 'v: 1\n', 'apps/db/a.yaml': 'v: 1\n' }, 'good');
    const bad = await commit({ 'apps/web/a.yaml': 'v: 2\n', 'apps/db/a.yaml': 'v: 2\n' }, 'bad');
    await commit({ 'apps/db/a.yaml': 'v: 3\n' }, 'newer');
    const writer = createGitWriter({ cacheDir: path.join(root, 'cache') });
    const input = { repoUrl: `${server.url}/fleet.git`, branch: 'main', revertOf: bad, restoreTo: good };

    // WHEN web is reverted THEN only apps/web changes, back to the good content, with the message
    const web = await writer.revertPaths({
      ...input,
      paths: ['apps/web'],
      message: 'revert\n\nSluice-Revert-Of: x',
    });
    expect(web.status).toBe('committed');
    await git(clone, 'pull', '-q', '--ff-only', 'origin', 'main');
    expect(await git(clone, 'show', '--name-only', '--format=', 'HEAD')).toBe('apps/web/a.yaml');
    expect(await git(clone, 'log', '-1', '--format=%B')).toBe('revert\n\nSluice-Revert-Of: x');
    expect(await git(clone, 'show', 'HEAD:apps/db/a.yaml')).toBe('v: 3');

    // WHEN db (changed again after the bad commit) is reverted THEN a conflict is reported, nothing pushed
    const head = await git(clone, 'rev-parse', 'HEAD');
    const db = await writer.revertPaths({ ...input, paths: ['apps/db'], message: 'revert db' });
    expect(db).toEqual({ status: 'conflict', paths: ['apps/db/a.yaml'], head });
    await git(clone, 'fetch', '-q', 'origin');
    expect(await git(clone, 'rev-parse', 'origin/main')).toBe(head);
  });
});

describe('GitHub pull requests (Octokit against a local server)', () => {
  it('opens the revert pull request with the token from the secret store, and reuses an open one', async () => {
    // GIVEN a GitHub-shaped API on 127.0.0.1 that already has a PR for the second branch
    const seen: { auth?: string; body: Record<string, string> }[] = [];
    const api = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => {
        text += c.toString();
      });
      req.on('end', () => {
        const body = text ? (JSON.parse(text) as Record<string, string>) : {};
        seen.push({ ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), body });
        res.setHeader('content-type', 'application/json');
        if (req.method === 'POST' && body.head === 'taken') {
          res.writeHead(422).end(JSON.stringify({ message: 'A pull request already exists' }));
        } else if (req.method === 'GET') {
          res
            .writeHead(200)
            .end(JSON.stringify([{ number: 7, html_url: 'http://gh.local/acme/fleet/pull/7' }]));
        } else
          res
            .writeHead(201)
            .end(JSON.stringify({ number: 8, html_url: 'http://gh.local/acme/fleet/pull/8' }));
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
    const prs = createGithubPullRequests({
      secrets: new MemorySecretStore({ 'aws-sm://sluice/github#token': 'ghs_test' }),
      tokenRef: 'aws-sm://sluice/github#token',
      baseUrl: `http://127.0.0.1:${(api.address() as AddressInfo).port}`,
    });
    const input = { repo: 'acme/fleet', base: 'main', title: 'Roll back web', body: 'Sluice-Revert-Of: x' };
    try {
      // WHEN two pull requests are opened THEN the first is created and the second reused
      expect(await prs.openPullRequest({ ...input, head: 'sluice/revert-1' })).toEqual({
        url: 'http://gh.local/acme/fleet/pull/8',
        number: 8,
      });
      expect((await prs.openPullRequest({ ...input, head: 'taken' })).number).toBe(7);
      expect(seen[0]).toEqual({
        auth: 'token ghs_test',
        body: { base: 'main', head: 'sluice/revert-1', title: 'Roll back web', body: 'Sluice-Revert-Of: x' },
      });
    } finally {
      api.close();
    }
  });
});
