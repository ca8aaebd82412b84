/**
 * Property tests (fast-check, fixed seed, bounded runs) over hostile trees and names: random trees
 * of `.git` spellings, duplicates, case collisions, links out and through each other, submodules
 * and odd names, written with real git, served by the project's git server, checked out by the
 * git source, rendered (in process and by kubectl kustomize) and applied to a directory target.
 * Whatever the tree, nothing is written outside the checkout and the target, and every refusal
 * is a SluiceError that names what it refused: never a crash or a raw exception.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { isDotGit } from '../../shared/adapters/git/tree-guard.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { type GitServer, initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { safeJoin } from '../../shared/adapters/safe-path.ts';
import { renderApp } from '../../shared/core/render.ts';
import { isSluiceError } from '../../shared/errors.ts';
import type { RenderSpec } from '../../shared/schemas/events.ts';
import { commitTree, type HostileEntries, type HostileNode } from './git-hostile-trees.ts';

const SEED = 1_111;
const TREE_RUNS = 20;
const NAME_RUNS = 2_000;

const HOSTILE_NAMES = [
  '.git',
  '.GIT',
  '.git ',
  '.git.',
  '.git::$INDEX_ALLOCATION',
  'git~1',
  '.g\u200cit',
  '..',
  '.',
  'a/../../x',
  '..\\x',
  'CM.yaml',
  'cm.yaml',
  'caf\u00e9.yaml',
  'cafe\u0301.yaml',
  'x\u001b[2J.yaml',
  'kustomization.yaml',
];

const name = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_NAMES) },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}\.yaml$/) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes('\0')) },
);

const objectName = fc.oneof(
  fc.constantFrom('../../../outside/pwned', '..', 'a/b', 'ok', 'x\u0000y', 'web'),
  fc.stringMatching(/^[a-z][a-z0-9.-]{0,12}$/),
);

const linkTarget = fc.oneof(
  fc.constantFrom(
    '/etc/passwd',
    '../../../../../../etc/hostname',
    '..',
    '.',
    'CM.yaml',
    'sub',
    'sub/x.yaml',
    'loop',
  ),
  fc
    .array(fc.constantFrom('..', '.', 'sub', 'x.yaml', 'loop'), { minLength: 1, maxLength: 4 })
    .map((p) => p.join('/')),
);

const manifest = objectName.map(
  (n) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${JSON.stringify(n)}\ndata: {a: "1"}\n`,
);

const node: fc.Arbitrary<HostileNode> = fc.letrec<{ node: HostileNode; dir: HostileEntries }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    manifest.map((file) => ({ file })),
    linkTarget.map((link) => ({ link })),
    fc.constant({ gitlink: '0123456789abcdef0123456789abcdef01234567' }),
    tie('dir').map((dir) => ({ dir })),
  ),
  dir: fc.array(fc.tuple(name, tie('node')), { maxLength: 4 }),
})).node;

/** Half the runs: a hostile tree; the other half: plain files whose objects carry hostile names. */
const hostileDir = fc.oneof(
  fc.array(fc.tuple(name, node), { minLength: 1, maxLength: 6 }),
  fc
    .array(manifest, { minLength: 1, maxLength: 4 })
    .map((files): HostileEntries => files.map((file, i) => [`f${i}.yaml`, { file }] as const)),
);

/** Every path on disk under `dir`, links listed and not followed. */
const walk = async (dir: string): Promise<string[]> => {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    out.push(full);
    if (entry.isDirectory()) out.push(...(await walk(full)));
  }
  return out;
};

const expectClear = (error: unknown, where: string): void => {
  expect(isSluiceError(error), `${where}: ${String((error as Error)?.stack ?? error)}`).toBe(true);
  expect((error as Error).message.length).toBeGreaterThan(10);
};

describe('hostile trees and names, generated', () => {
  let base: string;
  let server: GitServer;
  let gitDir: string;
  let url: string;
  const renderer = createToolRenderer();

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'sluice-git-fuzz-'));
    const seed = path.join(base, 'seed');
    await mkdir(seed);
    await writeFile(path.join(seed, 'sluice.yaml'), 'kind: Fleet\n');
    await initBareRepo(path.join(base, 'repos'), 'fleet', seed);
    gitDir = path.join(base, 'repos', 'fleet.git');
    server = await startGitServer({ root: path.join(base, 'repos') });
    url = `${server.url}/fleet.git`;
  });

  afterAll(async () => {
    await server.close();
    await rm(base, { recursive: true, force: true });
  });

  it('never writes outside the checkout or the target, and refuses only with clear errors', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(hostileDir, fc.boolean(), async (entries, kustomize) => {
        run += 1;
        // GIVEN a sandbox: a cache, a target and a canary beside them
        const sandbox = path.join(base, `run-${run}`);
        const outside = path.join(sandbox, 'outside');
        await mkdir(outside, { recursive: true });
        await writeFile(path.join(outside, 'canary'), 'untouched');
        const app: HostileEntries = kustomize
          ? [
              ...entries,
              [
                'kustomization.yaml',
                { file: `resources:\n${entries.map(([n]) => `- ${JSON.stringify(n)}`).join('\n')}\n` },
              ],
            ]
          : entries;
        const commit = await commitTree(
          gitDir,
          [
            ['apps', { dir: [['web', { dir: app }]] }],
            ['sluice.yaml', { file: 'kind: Fleet\n' }],
          ],
          `fuzz ${run}`,
        );

        // WHEN it is checked out, rendered and applied
        const tree = await createGitSource({ cacheDir: path.join(sandbox, 'cache') }).checkout(
          url,
          'main',
          commit,
        );
        const spec: RenderSpec = {
          app: 'web',
          path: 'apps/web',
          values: {},
          disabledPolicies: [],
          sync: { prune: true, selfHeal: false },
          ...(kustomize ? { kind: 'kustomize' as const } : { kind: 'directory' as const }),
        };
        try {
          await tree.list('apps/web');
        } catch (error) {
          expectClear(error, 'list');
          expect((error as Error).message).toMatch(/^apps\/web\//);
        }
        let objects: Awaited<ReturnType<typeof renderApp>> = [];
        try {
          objects = await renderApp(tree, spec, renderer);
        } catch (error) {
          expectClear(error, 'render');
        }
        try {
          await new DirectoryCluster(path.join(sandbox, 'target')).apply(
            'web',
            objects.map((o) => o.object),
            {
              prune: true,
              inventory: { app: 'web', generation: run, commit, digest: `sha256:${'0'.repeat(64)}` },
            },
          );
        } catch (error) {
          expectClear(error, 'apply');
        }

        // THEN the sandbox holds only the cache, the target and the untouched canary
        expect((await readdir(sandbox)).filter((n) => !['cache', 'target', 'outside'].includes(n))).toEqual(
          [],
        );
        expect(await readdir(outside)).toEqual(['canary']);
        expect(await readFile(path.join(outside, 'canary'), 'utf8')).toBe('untouched');
        // AND the checkout holds no .git spelling and no link that resolves outside it
        const root = await realpath(tree.root);
        for (const file of await walk(tree.root)) {
          expect(isDotGit(path.basename(file)), file).toBe(false);
          if ((await lstat(file)).isSymbolicLink()) {
            const resolved = await realpath(file).catch(() => undefined);
            expect(resolved?.startsWith(`${root}${path.sep}`), file).toBe(true);
          }
        }
        await rm(sandbox, { recursive: true, force: true });
      }),
      { seed: SEED, numRuns: TREE_RUNS, endOnFailure: true },
    );
  }, 300_000);

  it('safeJoin never returns a path outside its root, and refuses with UNSAFE_PATH', () => {
    const root = path.resolve('/srv/targets/t1');
    fc.assert(
      fc.property(
        fc.array(fc.oneof(name, objectName, fc.string()), { minLength: 1, maxLength: 4 }),
        (segments) => {
          try {
            const joined = safeJoin(root, ...segments);
            expect(joined.startsWith(`${root}${path.sep}`)).toBe(true);
          } catch (error) {
            expect((error as { code?: string }).code).toBe('UNSAFE_PATH');
          }
        },
      ),
      { seed: SEED, numRuns: NAME_RUNS },
    );
  });
});
