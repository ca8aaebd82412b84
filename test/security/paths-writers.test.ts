/**
 * Path writers: every place that turns a name Sluice did not choose (object name, namespace, kind,
 * app, target, store key) into a file path joins through shared/adapters/safe-path.ts and refuses
 * what would leave its root. Each case keeps a canary outside the root and checks afterwards that
 * nothing outside was written, read or removed.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBundleStore } from '../../shared/adapters/local/bundle-store.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { FileRenderCache } from '../../shared/adapters/local/render-cache.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { safeJoin, writeFileInside } from '../../shared/adapters/safe-path.ts';
import { renderApp } from '../../shared/core/render.ts';
import type { KubeObject } from '../../shared/ports/index.ts';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/sluice.mjs');

let base: string;
let root: string;
let outside: string;

/** Everything under `dir`, relative, sorted: what a writer left behind. */
const tree = async (dir: string): Promise<string[]> =>
  (await readdir(dir, { recursive: true })).map(String).sort();

const expectOutsideUntouched = async (): Promise<void> => {
  expect(await readdir(outside)).toEqual(['canary']);
  expect(await readFile(path.join(outside, 'canary'), 'utf8')).toBe('untouched');
  // The sandbox holds only the root and the canary's directory: nothing was created beside them.
  expect((await readdir(base)).sort()).toEqual(['outside', 'root']);
};

const object = (
  kind: string,
  name: string,
  namespace?: string,
  extra: Partial<KubeObject> = {},
): KubeObject => ({
  apiVersion: 'v1',
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  ...extra,
});

const inventory = { app: 'web', generation: 1, commit: 'a'.repeat(40), digest: `sha256:${'b'.repeat(64)}` };

beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'sluice-paths-'));
  root = path.join(base, 'root');
  outside = path.join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(path.join(outside, 'canary'), 'untouched');
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('safeJoin', () => {
  it.each([
    ['..', /"\.\." segment/],
    ['.', /"\." segment/],
    ['', /empty path segment/],
    ['a/../../x', /path separator/],
    ['..\\x', /path separator/],
    ['/etc/passwd', /path separator/],
    ['x\0y', /NUL/],
    ['x\u001b[31my', /control character/],
  ])('refuses the segment %j with UNSAFE_PATH naming it', (segment, problem) => {
    let caught: { code?: string; message?: string; data?: { path?: string } } = {};
    try {
      safeJoin(root, segment);
    } catch (error) {
      caught = error as typeof caught;
    }
    expect(caught.code).toBe('UNSAFE_PATH');
    expect(caught.message).toMatch(problem);
    expect(caught.data?.path).toBe(segment);
    // Control characters are escaped in the message, never printed raw.
    expect(caught.message).not.toContain('\u0000');
    expect(caught.message).not.toContain('\u001b');
  });

  it('joins plain names inside the root', () => {
    expect(safeJoin(root, 'default', 'configmap.web.yaml')).toBe(
      path.join(root, 'default', 'configmap.web.yaml'),
    );
  });

  it('refuses to write through a symlinked parent, and writes nothing', async () => {
    // GIVEN root/ns is a symlink to a directory outside
    await symlink(outside, path.join(root, 'ns'));
    // WHEN a file is written under it THEN UNSAFE_PATH names the link
    await expect(writeFileInside(root, ['ns', 'x.yaml'], 'data')).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      message: expect.stringContaining('has a parent "ns" that is a symlink'),
    });
    await expect(readdir(outside)).resolves.toEqual(['canary']);
  });

  it('replaces a symlink planted at the file name instead of writing through it', async () => {
    // GIVEN root/x.yaml is a symlink to the canary
    await symlink(path.join(outside, 'canary'), path.join(root, 'x.yaml'));
    // WHEN x.yaml is written THEN the link is replaced by a regular file and the canary is intact
    await writeFileInside(root, ['x.yaml'], 'new');
    expect((await stat(path.join(root, 'x.yaml'))).isFile()).toBe(true);
    expect(await readFile(path.join(root, 'x.yaml'), 'utf8')).toBe('new');
    await expectOutsideUntouched();
  });
});

describe('directory targets', () => {
  it.each([
    ['a name with ..', object('ConfigMap', '../../../outside/pwned', 'default')],
    ['a namespace of ..', object('ConfigMap', 'web', '..')],
    ['a namespace climbing out', object('ConfigMap', 'web', '../../outside')],
    ['a kind with a separator', object('../../outside/Pwned', 'web', 'default')],
    ['a name with NUL', object('ConfigMap', 'web\0.yaml', 'default')],
  ])('refuses %s before writing any object of the apply', async (_case, bad) => {
    // GIVEN a valid object first and the hostile one after it
    const cluster = new DirectoryCluster(root);
    const good = object('ConfigMap', 'fine', 'default');
    // WHEN they are applied together THEN UNSAFE_PATH, and not even the valid one was written
    await expect(cluster.apply('web', [good, bad], { prune: true, inventory })).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
    });
    expect(await tree(root)).toEqual([]);
    await expectOutsideUntouched();
  });

  it('refuses an app name that would put its inventory outside the target', async () => {
    const cluster = new DirectoryCluster(root);
    await expect(
      cluster.apply('../../../outside/inv', [object('ConfigMap', 'web', 'default')], {
        prune: true,
        inventory,
      }),
    ).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    await expectOutsideUntouched();
  });

  it('refuses a namespace directory that is a symlink out of the target', async () => {
    // GIVEN targets/<t>/default -> outside
    await symlink(outside, path.join(root, 'default'));
    const cluster = new DirectoryCluster(root);
    // WHEN an object in namespace default is applied THEN it is refused, naming the link
    await expect(
      cluster.apply('web', [object('ConfigMap', 'web', 'default')], { prune: true, inventory }),
    ).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      message: expect.stringContaining('"default" that is a symlink'),
    });
    await expectOutsideUntouched();
  });

  it('never prunes outside the target, whatever an old inventory lists', async () => {
    // GIVEN an inventory listing an identity that climbs out to the canary
    await mkdir(path.join(root, '.sluice', 'inventory'), { recursive: true });
    await writeFile(
      path.join(root, '.sluice', 'inventory', 'web.json'),
      JSON.stringify({
        ...inventory,
        objects: ['ConfigMap/../../../outside/canary', 'ConfigMap/default/old'],
      }),
    );
    // WHEN the app is applied with prune THEN the canary is still there
    await new DirectoryCluster(root).apply('web', [object('ConfigMap', 'web', 'default')], {
      prune: true,
      inventory,
    });
    await expectOutsideUntouched();
  });

  it('writes object files, Secrets with resolved values included, readable by the owner only', async () => {
    // GIVEN a Secret whose values the agent resolved
    const secret = object('Secret', 'db', 'api', {
      stringData: { url: 'postgres://user:resolved@db/api' },
    } as Partial<KubeObject>);
    // WHEN it is applied THEN its file is mode 600
    await new DirectoryCluster(root).apply('api', [secret, object('ConfigMap', 'web', 'api')], {
      prune: true,
      inventory,
    });
    expect((await stat(path.join(root, 'api', 'secret.db.yaml'))).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(root, 'api', 'configmap.web.yaml'))).mode & 0o777).toBe(0o600);
  });
});

describe('stores keyed by messages', () => {
  it('the bundle store reads only bundles/<sha256>.json', async () => {
    const store = new FileBundleStore(root);
    for (const key of [
      '../outside/canary',
      'bundles/../../outside/canary',
      '/etc/passwd',
      `bundles/${'a'.repeat(64)}.json/..`,
    ]) {
      await expect(store.get({ key, digest: `sha256:${'0'.repeat(64)}` }), key).rejects.toMatchObject({
        code: 'BAD_INPUT',
        message: expect.stringContaining('is not bundles/<sha256>.json'),
      });
    }
    await expectOutsideUntouched();
  });

  it('the render cache refuses a key that is not a sha256', async () => {
    const cache = new FileRenderCache(root);
    await expect(cache.put('../../outside/canary', new Uint8Array([1]))).rejects.toMatchObject({
      code: 'BAD_INPUT',
    });
    await expect(cache.get('../../outside/canary')).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expectOutsideUntouched();
  });
});

describe('render tools on a plain directory', () => {
  it('finish on directory links that loop, and render what is inside the root', async () => {
    // GIVEN a kustomization whose directory holds links to its parent and to each other
    const app = path.join(root, 'app');
    await mkdir(path.join(app, 'a'), { recursive: true });
    await mkdir(path.join(app, 'b'));
    await symlink('..', path.join(app, 'a', 'up'));
    await symlink('../b', path.join(app, 'a', 'to-b'));
    await symlink('../a', path.join(app, 'b', 'to-a'));
    await writeFile(path.join(app, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n');
    await writeFile(path.join(app, 'kustomization.yaml'), 'resources: [cm.yaml]\n');
    // WHEN it is rendered with the real kubectl kustomize THEN the link walk ends and the object renders
    const objects = await renderApp(
      createDirectoryTree(root),
      {
        app: 'web',
        path: 'app',
        values: {},
        disabledPolicies: [],
        sync: { prune: true, selfHeal: false },
        kind: 'kustomize',
      },
      createToolRenderer(),
    );
    expect(objects.map((o) => o.object.metadata.name)).toEqual(['web']);
    await expectOutsideUntouched();
  });
});

describe('sluice render --out', () => {
  it('refuses an object whose name would leave --out, writing nothing (the real CLI)', async () => {
    // GIVEN a plain YAML directory with one good object and one named to climb out of --out
    const app = path.join(root, 'app');
    await mkdir(app);
    await writeFile(
      path.join(app, 'objects.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ../../../outside/pwned}\n',
    );
    const out = path.join(root, 'out');
    // WHEN sluice render --out runs
    const result = await run(process.execPath, [BIN, 'render', app, '--out', out]).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    // THEN it fails naming the object, and nothing is written in --out or outside it
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('../../../outside/pwned');
    expect(await readdir(out).catch(() => [])).toEqual([]);
    await expectOutsideUntouched();
  });
});
