import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deployRepos, validateDeployConfig } from '../../infra/config.ts';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { MemoryIdempotencyStore } from '../../shared/adapters/local/memory.ts';
import { readDedupeLimits, readDeployRepos, readRepoUrlMap, readRepoUrls } from '../../shared/config/env.ts';
import { foldHistory } from '../../shared/core/history.ts';
import { REPO_GENERATION_BRANCH } from '../../shared/core/ledger.ts';
import { planCommit } from '../../shared/core/plan.ts';
import { deployBranches, repoCatalog } from '../../shared/core/repos.ts';
import type { Clock, GitSource } from '../../shared/ports/index.ts';
import type { CommitPushed, ReleaseSkipped } from '../../shared/schemas/events.ts';
import { tempDir } from '../support/dev-harness.ts';

const HEAD = 'b'.repeat(40);
const CONFIGURED_URL = 'https://git.example.com/acme/fleet.git';
const clock: Clock = { now: () => new Date('2026-12-06T10:00:00Z') };

const fleet = (extra = '') => `apiVersion: sluice.dev/v1
kind: Fleet
${extra}targets: [{ name: dev, cloud: other, region: local, labels: { env: dev }, cluster: { kind: directory } }]
apps:
  - { name: web, path: apps/web, kind: directory, targets: {} }
`;

/** A config repo on disk behind a GitSource that records every URL it was asked for. */
const repoOnDisk = async (sluiceYaml: string) => {
  const dir = await tempDir('repos');
  await mkdir(path.join(dir, 'apps/web'), { recursive: true });
  await writeFile(path.join(dir, 'sluice.yaml'), sluiceYaml);
  await writeFile(
    path.join(dir, 'apps/web/cm.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web }\n',
  );
  const urls: string[] = [];
  const git: GitSource = {
    head: async (url) => {
      urls.push(url);
      return HEAD;
    },
    checkout: async (url, _branch, commit) => {
      urls.push(url);
      return createDirectoryTree(dir, commit);
    },
    changedPaths: async () => undefined,
    isAncestor: async () => false,
  };
  return { git, urls };
};

const push = (over: Partial<CommitPushed> = {}): CommitPushed => ({
  schemaVersion: 1,
  traceId: 'trace-0001',
  repo: 'acme/fleet',
  branch: 'main',
  commit: HEAD,
  before: '0'.repeat(40),
  ref: 'refs/heads/main',
  forced: false,
  deleted: false,
  deliveryId: 'd-1',
  provider: 'github',
  repoUrl: 'https://attacker.example/evil.git',
  occurredAt: '2026-12-06T10:00:00.000Z',
  receivedAt: '2026-12-06T10:00:00.000Z',
  ...over,
});

const catalog = (branches?: string[]) =>
  repoCatalog([{ name: 'acme/fleet', url: CONFIGURED_URL, ...(branches ? { branches } : {}) }]);

describe('repoCatalog', () => {
  it('defaults every repo to main and finds repos by the name webhooks use', () => {
    // GIVEN a repo listed without branches  WHEN it is looked up
    const repos = catalog();
    // THEN it deploys main only, and another name is not configured
    expect(repos.find('acme/fleet')?.branches).toEqual(['main']);
    expect(repos.find('acme/other')).toBeUndefined();
  });

  it.each([
    ['a clone URL with credentials', { name: 'acme/fleet', url: 'https://user:token@git.example.com/f.git' }],
    ['a file: clone URL', { name: 'acme/fleet', url: 'file:///etc/passwd' }],
    [
      'a branch that reads as a flag',
      { name: 'acme/fleet', url: CONFIGURED_URL, branches: ['--upload-pack=x'] },
    ],
    [
      'a branch with a control character',
      { name: 'acme/fleet', url: CONFIGURED_URL, branches: ['ma\u001bin'] },
    ],
    ['a branch with ..', { name: 'acme/fleet', url: CONFIGURED_URL, branches: ['a/../b'] }],
  ])('refuses %s with a ConfigError', (_what, repo) => {
    expect(() => repoCatalog([repo])).toThrow(/repos at 0\.(url|branches\.0): .*Fix: /);
  });

  it('refuses a repo listed twice', () => {
    const twice = { name: 'acme/fleet', url: CONFIGURED_URL };
    expect(() => repoCatalog([twice, twice])).toThrow(/acme\/fleet: is listed twice/);
  });

  it('lets sluice.yaml narrow the deploy branches but never widen them', () => {
    const repo = catalog(['main', 'release']).find('acme/fleet')!;
    expect(deployBranches(repo, ['release'])).toEqual(['release']);
    expect(deployBranches(repo, ['release', 'feature'])).toEqual(['release']);
    expect(deployBranches(repo)).toEqual(['main', 'release']);
  });
});

describe('planCommit with configured repos', () => {
  const deps = async (sluiceYaml = fleet()) => {
    const { git, urls } = await repoOnDisk(sluiceYaml);
    const bus = new LocalEventBus();
    return {
      deps: { git, ledger: new FileLedger(), bus, clock, repos: catalog(['main', 'release']) },
      urls,
      bus,
    };
  };

  it('skips a repo that is not configured without touching Git', async () => {
    const { deps: d, urls } = await deps();
    const outcome = await planCommit(d, push({ repo: 'acme/other' }));
    expect(outcome.kind).toBe('skipped');
    expect((outcome.event as ReleaseSkipped).reason).toBe('repo-not-configured');
    expect(outcome.event).toMatchObject({ message: expect.stringContaining('management.repos') });
    expect(urls).toEqual([]);
  });

  it('skips a branch that is not a deploy branch, naming it and the fix, without touching Git', async () => {
    const { deps: d, urls } = await deps();
    const outcome = await planCommit(d, push({ branch: 'feature', ref: 'refs/heads/feature' }));
    const event = outcome.event as ReleaseSkipped;
    expect(event.reason).toBe('branch-not-configured');
    expect(event.message).toMatch(
      /branch "feature" of acme\/fleet does not deploy \(deploy branches: "main", "release"\).*Fix: /,
    );
    expect(urls).toEqual([]);
    // AND the branch's state is not advanced: nothing of it can shadow a later release
    expect(await d.ledger.getBranch('acme/fleet', 'feature')).toBeUndefined();
  });

  it('clones the configured URL, never the one the push carries', async () => {
    const { deps: d, urls } = await deps();
    const outcome = await planCommit(d, push());
    expect(outcome.kind).toBe('planned');
    expect(new Set(urls)).toEqual(new Set([CONFIGURED_URL]));
    expect(outcome.event).toMatchObject({ repoUrl: CONFIGURED_URL });
  });

  it('skips a branch that sluice.yaml narrows away, even though the deployment config allows it', async () => {
    const { deps: d } = await deps(fleet('branches: [main]\n'));
    const outcome = await planCommit(d, push({ branch: 'release', ref: 'refs/heads/release' }));
    const event = outcome.event as ReleaseSkipped;
    expect(event.reason).toBe('branch-not-configured');
    expect(event.message).toContain('sluice.yaml branches lists "main"');
  });

  it('orders generations per repo across its deploy branches', async () => {
    // GIVEN main planned at generation 1 and release planned twice after it
    const { deps: d } = await deps();
    const first = await planCommit(d, push());
    const release = { branch: 'release', ref: 'refs/heads/release' };
    const second = await planCommit(d, push({ ...release, commit: HEAD }));
    // WHEN main is planned again (a new commit)
    await d.ledger.putBranch(
      { ...(await d.ledger.getBranch('acme/fleet', 'main'))!, lastPlanned: 'c'.repeat(40) },
      1,
    );
    const third = await planCommit(d, push());
    // THEN every release has a higher generation than the one before, whatever its branch
    const generations = [first, second, third].map((o) => (o.event as { generation?: number }).generation);
    expect(generations).toEqual([1, 2, 3]);
    expect((await d.ledger.getBranch('acme/fleet', REPO_GENERATION_BRANCH))?.generation).toBe(3);
  });
});

describe('FileLedger keys per (repo, app, target)', () => {
  const update = (repo: string, generation: number, at: string) => ({
    app: 'web',
    target: 'prod',
    repo,
    branch: 'main',
    commit: String(generation).repeat(40).slice(0, 40),
    generation,
    digest: `sha256:${String(generation).repeat(64).slice(0, 64)}`,
    bundleKey: 'bundles/x.json',
    traceId: `trace-${generation}`,
    state: 'Healthy' as const,
    at,
  });

  it('keeps two repos with a same-named app on one target apart: neither shadows the other', async () => {
    // GIVEN repo A at generation 9 and repo B's first release (generation 1)
    const ledger = new FileLedger();
    await ledger.recordDeployment(update('acme/a', 9, '2026-12-06T10:00:00Z'));
    const b = await ledger.recordDeployment(update('acme/b', 1, '2026-12-06T10:01:00Z'));
    // THEN B's record is its own, not refused as older than A's
    expect(b).toMatchObject({ repo: 'acme/b', generation: 1 });
    expect((await ledger.getDeployment('web', 'prod', 'acme/a'))?.generation).toBe(9);
    expect((await ledger.listDeployments()).map((r) => r.repo)).toEqual(['acme/a', 'acme/b']);
    // AND a lookup without a repo answers the newest of them
    expect((await ledger.getDeployment('web', 'prod'))?.repo).toBe('acme/b');
  });

  it('reads a record written under the old (app, target) key and moves it on its next write', async () => {
    // GIVEN a ledger file written before the key named the repo
    const dir = await tempDir('ledger');
    const file = path.join(dir, 'ledger.json');
    const old = { ...update('acme/a', 4, '2026-12-01T00:00:00Z'), history: [], updatedAt: 'x', version: 3 };
    await writeFile(file, JSON.stringify({ branches: {}, deployments: { 'web@prod': old } }));
    const ledger = new FileLedger(file);
    // WHEN its repo's record is read, another repo's is read, and its repo writes
    expect((await ledger.getDeployment('web', 'prod', 'acme/a'))?.generation).toBe(4);
    expect(await ledger.getDeployment('web', 'prod', 'acme/b')).toBeUndefined();
    // THEN an older generation is still refused, a newer one moves the record to the new key
    expect((await ledger.recordDeployment(update('acme/a', 3, '2026-12-06T10:00:00Z'))).generation).toBe(4);
    const moved = await ledger.recordDeployment(update('acme/a', 5, '2026-12-06T10:00:00Z'));
    expect(moved).toMatchObject({ generation: 5, version: 4 });
    expect((await ledger.listDeployments()).map((r) => `${r.repo}:${r.generation}`)).toEqual(['acme/a:5']);
  });
});

describe('MemoryIdempotencyStore bounds', () => {
  it('forgets the oldest claims past maxEntries, so a flood of delivery ids cannot grow memory', async () => {
    const store = new MemoryIdempotencyStore({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) expect(await store.claim(id, 3600)).toBe(true);
    expect(store.size).toBe(3);
    // The newest are still duplicates; the oldest were forgotten
    expect(await store.claim('e', 3600)).toBe(false);
    expect(await store.claim('a', 3600)).toBe(true);
  });

  it('caps how long a claim is kept at maxTtlSeconds', async () => {
    let now = Date.parse('2026-12-06T10:00:00Z');
    const store = new MemoryIdempotencyStore({ clock: { now: () => new Date(now) }, maxTtlSeconds: 60 });
    expect(await store.claim('a', 86_400)).toBe(true);
    now += 59_000;
    expect(await store.claim('a', 86_400)).toBe(false);
    now += 2_000;
    expect(await store.claim('a', 86_400)).toBe(true);
  });

  it('refuses a bound that is not a positive number', () => {
    expect(() => new MemoryIdempotencyStore({ maxEntries: 0 })).toThrow(/maxEntries/);
  });

  it('takes its bounds from SLUICE_DEDUPE_MAX_ENTRIES and SLUICE_DEDUPE_MAX_TTL_SECONDS', () => {
    expect(readDedupeLimits({})).toEqual({});
    expect(
      readDedupeLimits({ SLUICE_DEDUPE_MAX_ENTRIES: '1000', SLUICE_DEDUPE_MAX_TTL_SECONDS: '3600' }),
    ).toEqual({
      maxEntries: 1000,
      maxTtlSeconds: 3600,
    });
    expect(() => readDedupeLimits({ SLUICE_DEDUPE_MAX_ENTRIES: 'lots' })).toThrow(
      /SLUICE_DEDUPE_MAX_ENTRIES: must be a whole number of at least 1 \(got "lots"\)/,
    );
  });
});

describe('deployment config repos', () => {
  const management = { account: '111111111111', region: 'us-east-1' };

  it('lists management.repos and the repoUrls entries they do not name', () => {
    const config = validateDeployConfig(
      {
        management: {
          ...management,
          repos: [{ name: 'acme/fleet', url: CONFIGURED_URL, branches: ['main', 'release'] }],
          repoUrls: {
            'acme/fleet': 'https://ignored.example/f.git',
            'acme/other': 'https://git.example.com/o.git',
          },
        },
      },
      'cdk.json',
    );
    expect(deployRepos(config.management)).toEqual([
      { name: 'acme/fleet', url: CONFIGURED_URL, branches: ['main', 'release'] },
      { name: 'acme/other', url: 'https://git.example.com/o.git' },
    ]);
  });

  it('refuses a repo listed twice, naming the key', () => {
    const repo = { name: 'acme/fleet', url: CONFIGURED_URL };
    expect(() =>
      validateDeployConfig({ management: { ...management, repos: [repo, repo] } }, 'cdk.json'),
    ).toThrow(/management\.repos\[1\]\.name: repository "acme\/fleet" is listed twice/);
  });

  it('is read by the functions from SLUICE_REPOS (with SLUICE_REPO_URLS entries deploying main)', () => {
    const env = {
      SLUICE_REPOS: JSON.stringify([{ name: 'acme/fleet', url: CONFIGURED_URL, branches: ['release'] }]),
      SLUICE_REPO_URLS: JSON.stringify({ 'acme/other': 'https://git.example.com/o.git' }),
    };
    const repos = readDeployRepos(env);
    expect(repos.find('acme/fleet')?.branches).toEqual(['release']);
    expect(repos.find('acme/other')).toEqual({
      name: 'acme/other',
      url: 'https://git.example.com/o.git',
      branches: ['main'],
    });
    expect(readRepoUrlMap(env)).toEqual({
      'acme/fleet': CONFIGURED_URL,
      'acme/other': 'https://git.example.com/o.git',
    });
    // AND rollback's clone URLs come from there too, never guessed from a repo's name
    expect(readRepoUrls(env)('acme/other')).toBe('https://git.example.com/o.git');
    expect(() => readRepoUrls(env)('acme/unknown')).toThrow(/repository acme\/unknown: is not configured/);
    // AND nothing set means nothing deploys
    expect(readDeployRepos({}).repos).toEqual([]);
    expect(() => readDeployRepos({ SLUICE_REPOS: '[{"name":"acme/x","url":"ftp://x"}]' })).toThrow(
      /SLUICE_REPOS/,
    );
  });
});

describe('sluice status for a push that does not deploy', () => {
  it('shows a push to another branch as Not A Deploy Branch, with the reason', async () => {
    // GIVEN the planner's answer to a push to feature
    const bus = new LocalEventBus();
    const { git } = await repoOnDisk(fleet());
    await planCommit(
      { git, ledger: new FileLedger(), bus, clock, repos: catalog() },
      push({ branch: 'feature' }),
    );
    // WHEN the record is folded for `sluice status`
    const { branches } = foldHistory(bus.events);
    // THEN the branch's newest commit says why it did not deploy
    expect(branches).toEqual([
      expect.objectContaining({
        repo: 'acme/fleet',
        branch: 'feature',
        outcome: 'Not A Deploy Branch',
        reason: expect.stringContaining('branch "feature" of acme/fleet does not deploy'),
      }),
    ]);
  });
});
