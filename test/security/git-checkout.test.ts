/**
 * Git checkout safety: commits whose trees no `git add` would make, pushed into a real bare
 * repository (git hash-object --literally), served by the project's smart-HTTP git server and
 * checked out by the isomorphic-git source. Each class is refused with a Render Failed naming the
 * path, never written, and nothing appears outside the cache directory.
 */
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { createGitWriter } from '../../shared/adapters/git/git-writer.ts';
import { type GitServer, initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import { readCheckoutLimits } from '../../shared/config/env.ts';
import type { SourceTree } from '../../shared/ports/index.ts';
import { commitTree, type HostileEntries } from './git-hostile-trees.ts';

let base: string;
let root: string;
let seed: string;
let server: GitServer;
let repoCount = 0;

/** A bare repo on the server whose main head is `entries` (plus sluice.yaml and a good app). */
const serve = async (entries: HostileEntries): Promise<{ url: string; gitDir: string; commit: string }> => {
  const name = `r${++repoCount}`;
  await initBareRepo(root, name, seed);
  const gitDir = path.join(root, `${name}.git`);
  const commit = await commitTree(
    gitDir,
    [
      [
        'apps',
        {
          dir: [
            ['good', { dir: [['deploy.yaml', { file: 'kind: ConfigMap\n' }]] }],
            ['web', { dir: entries }],
          ],
        },
      ],
      ['sluice.yaml', { file: 'kind: Fleet\n' }],
    ],
    'hostile',
  );
  return { url: `${server.url}/${name}.git`, gitDir, commit };
};

/** Checks out the head of a served hostile repo into a fresh cache, with a canary beside it. */
const checkout = async (
  entries: HostileEntries,
  limits?: Parameters<typeof createGitSource>[0]['limits'],
): Promise<{ tree: SourceTree; cacheDir: string; outside: string }> => {
  const { url, commit } = await serve(entries);
  const sandbox = await mkdtemp(path.join(base, 'sandbox-'));
  const cacheDir = path.join(sandbox, 'cache');
  const outside = path.join(sandbox, 'outside');
  await mkdir(outside);
  await writeFile(path.join(outside, 'canary'), 'untouched');
  const source = createGitSource({ cacheDir, ...(limits ? { limits } : {}) });
  return { tree: await source.checkout(url, 'main', commit), cacheDir, outside };
};

/** Every path on disk under `dir`, with symlinks listed (not followed). */
const walk = async (dir: string): Promise<string[]> => {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    out.push(full);
    if (entry.isDirectory()) out.push(...(await walk(full)));
  }
  return out;
};

/** Nothing outside the cache changed, and no link in the checkout resolves outside it. */
const expectContained = async (tree: SourceTree, outside: string): Promise<void> => {
  expect(await readdir(outside)).toEqual(['canary']);
  expect(await readFile(path.join(outside, 'canary'), 'utf8')).toBe('untouched');
  const realRoot = await realpath(tree.root);
  for (const file of await walk(tree.root)) {
    if ((await lstat(file)).isSymbolicLink()) {
      const resolved = await realpath(file);
      expect(resolved.startsWith(`${realRoot}${path.sep}`), `${file} -> ${await readlink(file)}`).toBe(true);
    }
    expect(path.basename(file).toLowerCase()).not.toMatch(/^\.git|^git~/);
  }
};

const refusalOf = async (
  read: Promise<unknown>,
): Promise<{ code: string; message: string; file: unknown }> => {
  try {
    await read;
  } catch (error) {
    const e = error as { code: string; message: string; data: { file?: unknown } };
    return { code: e.code, message: e.message, file: e.data.file };
  }
  throw new Error('expected a refusal, but the read succeeded');
};

const missing = (file: string) =>
  lstat(file).then(
    () => false,
    () => true,
  );

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'sluice-git-checkout-'));
  root = path.join(base, 'repos');
  seed = path.join(base, 'seed');
  await mkdir(seed, { recursive: true });
  await writeFile(path.join(seed, 'sluice.yaml'), 'kind: Fleet\n');
  server = await startGitServer({ root });
});

afterAll(async () => {
  await server.close();
  await rm(base, { recursive: true, force: true });
});

describe('git checkout of a hostile tree', () => {
  it('refuses duplicate entries, naming the path, and still serves the other apps', async () => {
    // GIVEN apps/web/deploy.yaml twice in one tree object, with different content
    const { tree, outside } = await checkout([
      ['deploy.yaml', { file: 'kind: ConfigMap\nmetadata: {name: a}\n' }],
      ['deploy.yaml', { file: 'kind: Secret\nmetadata: {name: b}\n' }],
    ]);
    // WHEN the app directory is read THEN Render Failed names the duplicated path
    const refusal = await refusalOf(tree.list('apps/web'));
    expect(refusal).toMatchObject({ code: 'RENDER_FAILED', file: 'apps/web/deploy.yaml' });
    expect(refusal.message).toContain('apps/web/deploy.yaml: appears more than once');
    expect((await refusalOf(tree.read('apps/web/deploy.yaml'))).code).toBe('RENDER_FAILED');
    // AND neither copy was written, while the other app and sluice.yaml read normally
    expect(await missing(path.join(tree.root, 'apps/web/deploy.yaml'))).toBe(true);
    expect(await tree.read('apps/good/deploy.yaml')).toBe('kind: ConfigMap\n');
    expect(await tree.read('sluice.yaml')).toBe('kind: Fleet\n');
    await expectContained(tree, outside);
  });

  const dotGitSpellings = [
    '.git',
    '.GIT',
    '.Git',
    '.git ',
    '.git.',
    '.git. . ',
    '.git::$INDEX_ALLOCATION',
    '.git:$DATA',
    'git~1',
    'GIT~1',
    '.g\u200cit',
    '.gi\ufefft',
  ];
  it.each(dotGitSpellings)(
    'refuses a ".git" component spelled %j, as directory and as file',
    async (name) => {
      // GIVEN a `.git` spelling as a directory holding a hook, and as a file beside it
      const { tree, outside } = await checkout([
        ['deploy.yaml', { file: 'kind: ConfigMap\n' }],
        [
          'nested',
          {
            dir: [
              [
                name,
                {
                  dir: [
                    [
                      'hooks',
                      { dir: [['post-checkout', { file: '#!/bin/sh\ntouch /tmp/pwned\n', mode: '100755' }]] },
                    ],
                  ],
                },
              ],
            ],
          },
        ],
        [name, { file: '[core]\n\tworktree = /\n' }],
      ]);
      // WHEN the app is read THEN the first refused path is named
      const refusal = await refusalOf(tree.list('apps/web'));
      expect(refusal.code).toBe('RENDER_FAILED');
      expect(refusal.message).toMatch(/is a "\.git" entry/);
      expect([`apps/web/${name}`, `apps/web/nested/${name}`]).toContain(refusal.file);
      // AND neither was written
      expect(await missing(path.join(tree.root, 'apps/web', name))).toBe(true);
      expect(await missing(path.join(tree.root, 'apps/web/nested', name))).toBe(true);
      expect(await tree.read('apps/good/deploy.yaml')).toBe('kind: ConfigMap\n');
      await expectContained(tree, outside);
    },
  );

  it('refuses names that differ only by case or Unicode normalisation, both of them', async () => {
    // GIVEN Deploy.yaml and deploy.yaml, and café.yaml in NFC and NFD
    const { tree, outside } = await checkout([
      ['Deploy.yaml', { file: 'kind: ConfigMap\n' }],
      ['caf\u00e9.yaml', { file: 'kind: ConfigMap\n' }],
      ['cafe\u0301.yaml', { file: 'kind: Secret\n' }],
      ['deploy.yaml', { file: 'kind: Secret\n' }],
    ]);
    // THEN each is refused, naming the collision
    for (const file of ['Deploy.yaml', 'deploy.yaml', 'caf\u00e9.yaml', 'cafe\u0301.yaml']) {
      const refusal = await refusalOf(tree.read(`apps/web/${file}`));
      expect(refusal).toMatchObject({ code: 'RENDER_FAILED', file: `apps/web/${file}` });
      expect(refusal.message).toMatch(/collides with .* case-insensitive or normalising filesystem/);
      expect(await missing(path.join(tree.root, 'apps/web', file))).toBe(true);
    }
    await expectContained(tree, outside);
  });

  const badLinks: [string, HostileEntries, string, RegExp][] = [
    ['absolute', [['passwd.yaml', { link: '/etc/passwd' }]], 'passwd.yaml', /absolute path "\/etc\/passwd"/],
    [
      '.. past the root',
      [['up.yaml', { link: '../../../../etc/passwd' }]],
      'up.yaml',
      /leaves the repository/,
    ],
    [
      '.. past the root through a real directory',
      [['d', { dir: [['x.yaml', { link: '../../../../../../etc/hostname' }]] }]],
      'd/x.yaml',
      /leaves the repository/,
    ],
    [
      'a chain through another symlink',
      [
        ['a.yaml', { link: 'b.yaml' }],
        ['b.yaml', { link: 'c.yaml' }],
        ['c.yaml', { file: 'kind: ConfigMap\n' }],
      ],
      'a.yaml',
      /points through the symlink "apps\/web\/b\.yaml"/,
    ],
    [
      'a loop of two links',
      [
        ['ping.yaml', { link: 'pong.yaml' }],
        ['pong.yaml', { link: 'ping.yaml' }],
      ],
      'ping.yaml',
      /symlink chains and loops/,
    ],
    ['a link to itself', [['self.yaml', { link: 'self.yaml' }]], 'self.yaml', /symlink chains and loops/],
    ['a directory link to its ancestor', [['d', { dir: [['up', { link: '..' }]] }]], 'd/up', /own ancestor/],
    [
      'directory links through each other',
      [
        ['a', { dir: [['to-b', { link: '../b' }]] }],
        ['b', { dir: [['to-a', { link: '../a' }]] }],
      ],
      'a/to-b',
      /holds the directory symlink/,
    ],
    ['a dangling link', [['gone.yaml', { link: 'nowhere.yaml' }]], 'gone.yaml', /not in the commit/],
    [
      'a link through a link to a parent directory',
      [
        ['up', { link: '..' }],
        ['x.yaml', { link: 'up/../../etc/passwd' }],
      ],
      'x.yaml',
      /points through the symlink/,
    ],
  ];
  it.each(badLinks)('refuses a symlink: %s', async (_name, entries, file, problem) => {
    // GIVEN the link inside apps/web
    const { tree, outside } = await checkout(entries);
    // WHEN it is read THEN Render Failed names the link and the problem
    const refusal = await refusalOf(tree.read(`apps/web/${file}`));
    expect(refusal).toMatchObject({ code: 'RENDER_FAILED', file: `apps/web/${file}` });
    expect(refusal.message).toMatch(problem);
    expect((await refusalOf(tree.list('apps/web'))).code).toBe('RENDER_FAILED');
    // AND the link was not written
    expect(await missing(path.join(tree.root, 'apps/web', file))).toBe(true);
    await expectContained(tree, outside);
  });

  it('keeps a relative link to a file inside the repository', async () => {
    // GIVEN apps/web/shared.yaml -> ../good/deploy.yaml
    const { tree, outside } = await checkout([['shared.yaml', { link: '../good/deploy.yaml' }]]);
    // THEN it reads through and lists like a file
    expect(await tree.read('apps/web/shared.yaml')).toBe('kind: ConfigMap\n');
    expect(await tree.list('apps/web')).toEqual(['apps/web/shared.yaml']);
    await expectContained(tree, outside);
  });

  it('refuses a submodule (gitlink)', async () => {
    const { tree, outside } = await checkout([
      ['vendor', { gitlink: '0123456789abcdef0123456789abcdef01234567' }],
      ['deploy.yaml', { file: 'kind: ConfigMap\n' }],
    ]);
    const refusal = await refusalOf(tree.list('apps/web'));
    expect(refusal).toMatchObject({ code: 'RENDER_FAILED', file: 'apps/web/vendor' });
    expect(refusal.message).toContain('is a submodule');
    await expectContained(tree, outside);
  });

  it.each([
    ['..', /would leave its directory/],
    ['a/../../../../escaped', /path separator/],
    ['..\\..\\escaped', /path separator/],
    ['evil\u001b[2J.yaml', /control character/],
  ])('refuses the stored name %j', async (name, problem) => {
    // GIVEN a raw tree object holding a name git itself would never write
    const { tree, cacheDir, outside } = await checkout([[name, { file: 'kind: ConfigMap\n' }]]);
    // THEN the app fails naming it (control characters escaped), and nothing escaped the cache
    const refusal = await refusalOf(tree.list('apps/web'));
    expect(refusal.code).toBe('RENDER_FAILED');
    expect(refusal.message).toMatch(problem);
    expect(refusal.message).not.toContain('\u001b');
    expect(await missing(path.join(cacheDir, 'escaped'))).toBe(true);
    expect(await missing(path.join(path.dirname(cacheDir), 'escaped'))).toBe(true);
    await expectContained(tree, outside);
  });

  it('refuses a file over the size limit, a tree too deep, and a commit with too many entries', async () => {
    // GIVEN limits of 1 KiB per file and 4 levels
    const deep: HostileEntries = [
      ['l3', { dir: [['l4', { dir: [['l5', { dir: [['x.yaml', { file: 'a: 1\n' }]] }]] }]] }],
    ];
    const sized = await checkout(
      [
        ['big.yaml', { file: `data: ${'x'.repeat(4096)}\n` }],
        ['to-big.yaml', { link: 'big.yaml' }],
        ['deep', { dir: deep }],
      ],
      { maxFileBytes: 1024, maxDepth: 4 },
    );
    // THEN the big file and the directory past the limit are each named
    const big = await refusalOf(sized.tree.read('apps/web/big.yaml'));
    expect(big).toMatchObject({ code: 'RENDER_FAILED', file: 'apps/web/big.yaml' });
    expect(big.message).toMatch(/over the limit of 1024 for one file/);
    expect(big.message).toContain('raise SLUICE_CHECKOUT_MAX_FILE_BYTES on the host');
    const link = await refusalOf(sized.tree.read('apps/web/to-big.yaml'));
    expect(link.message).toMatch(
      /apps\/web\/to-big\.yaml: is a symlink to "apps\/web\/big\.yaml", which was refused/,
    );
    const tooDeep = await refusalOf(sized.tree.read('apps/web/deep/l3/l4/l5/x.yaml'));
    expect(tooDeep.message).toMatch(/nested 5 directories deep, over the limit of 4/);
    expect(await missing(path.join(sized.tree.root, 'apps/web/big.yaml'))).toBe(true);
    await expectContained(sized.tree, sized.outside);

    // GIVEN more entries than allowed THEN the whole commit is refused, sluice.yaml included
    const many = await checkout(
      Array.from({ length: 30 }, (_, i) => [`f${i}.yaml`, { file: `i: ${i}\n` }] as const),
      { maxEntries: 20 },
    );
    const whole = await refusalOf(many.tree.read('sluice.yaml'));
    expect(whole).toMatchObject({ code: 'RENDER_FAILED', file: '.' });
    expect(whole.message).toMatch(/has more than 20 files, directories and links/);
    expect(await readdir(many.tree.root)).toEqual([]);
  });

  it('a rollback revert of a hostile commit fails clearly, without retrying', async () => {
    // GIVEN a good commit, then one that adds apps/web/.git
    const { url, gitDir, commit: good } = await serve([['deploy.yaml', { file: 'kind: ConfigMap\n' }]]);
    const bad = await commitTree(
      gitDir,
      [
        ['apps', { dir: [['web', { dir: [['.git', { dir: [['config', { file: '[core]\n' }]] }]] }]] }],
        ['sluice.yaml', { file: 'kind: Fleet\n' }],
      ],
      'hostile',
    );
    const writer = createGitWriter({ cacheDir: await mkdtemp(path.join(base, 'writer-')) });
    // WHEN the bad commit is reverted THEN a non-retryable GIT_FAILED names the entry
    await expect(
      writer.revertPaths({
        repoUrl: url,
        branch: 'main',
        revertOf: bad,
        restoreTo: good,
        paths: ['apps/web'],
        message: 'revert',
      }),
    ).rejects.toMatchObject({
      code: 'GIT_FAILED',
      retryable: false,
      message: expect.stringContaining('".git"'),
    });
  });

  it('takes the checkout bounds from the host environment, refusing a malformed setting', async () => {
    // GIVEN SLUICE_CHECKOUT_MAX_FILE_BYTES=512 on the host
    const limits = readCheckoutLimits({ SLUICE_CHECKOUT_MAX_FILE_BYTES: '512' });
    expect(limits).toEqual({ maxFileBytes: 512 });
    // WHEN a 1 KiB file is checked out THEN it is refused at that bound
    const { tree } = await checkout([['big.yaml', { file: 'x'.repeat(1024) }]], limits);
    expect((await refusalOf(tree.read('apps/web/big.yaml'))).message).toMatch(
      /over the limit of 512 for one file/,
    );
    // AND a malformed setting fails at start-up, naming the variable
    expect(() => readCheckoutLimits({ SLUICE_CHECKOUT_MAX_DEPTH: 'deep' })).toThrow(
      /SLUICE_CHECKOUT_MAX_DEPTH/,
    );
  });

  it('checks out the next good commit normally, and a cached hostile checkout stays refused', async () => {
    // GIVEN a hostile head, checked out once
    const { url, gitDir, commit } = await serve([['passwd.yaml', { link: '/etc/passwd' }]]);
    const cacheDir = path.join(await mkdtemp(path.join(base, 'reuse-')), 'cache');
    const first = await createGitSource({ cacheDir }).checkout(url, 'main', commit);
    expect((await refusalOf(first.read('apps/web/passwd.yaml'))).code).toBe('RENDER_FAILED');
    // WHEN a new process (fresh source, same cache) checks it out again THEN it is still refused
    const again = await createGitSource({ cacheDir }).checkout(url, 'main', commit);
    expect((await refusalOf(again.read('apps/web/passwd.yaml'))).code).toBe('RENDER_FAILED');
    // AND a good commit after it checks out in full
    const good = await commitTree(
      gitDir,
      [
        ['apps', { dir: [['web', { dir: [['deploy.yaml', { file: 'kind: ConfigMap\n' }]] }]] }],
        ['sluice.yaml', { file: 'kind: Fleet\n' }],
      ],
      'good',
    );
    const tree = await createGitSource({ cacheDir }).checkout(url, 'main', good);
    expect(await tree.list('apps/web')).toEqual(['apps/web/deploy.yaml']);
  });
});
