import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectoryTree, normaliseTreePath } from '../../shared/adapters/local/directory-tree.ts';

let base: string;
let root: string;

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'sluice-dirtree-'));
  root = path.join(base, 'repo');
  await mkdir(path.join(root, 'apps/web/base'), { recursive: true });
  await mkdir(path.join(root, 'apps/api'), { recursive: true });
  await mkdir(path.join(root, '.git'), { recursive: true });
  await writeFile(path.join(root, 'sluice.yaml'), 'kind: Fleet\n');
  await writeFile(path.join(root, 'apps/web/base/deploy.yaml'), 'kind: Deployment\n');
  await writeFile(path.join(root, 'apps/web/values.yaml'), 'replicas: 2\n');
  await writeFile(path.join(root, 'apps/api/app.yaml'), 'kind: Service\n');
  await writeFile(path.join(root, '.git/config'), '[core]\n');
  await writeFile(path.join(base, 'secret.txt'), 'outside\n');
  await symlink(path.join(base, 'secret.txt'), path.join(root, 'apps/escape.txt'));
  await symlink('values.yaml', path.join(root, 'apps/web/alias.yaml'));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('createDirectoryTree', () => {
  it('lists every file under a directory, sorted and repo-relative', async () => {
    // GIVEN a directory with nested apps
    const tree = createDirectoryTree(root, 'abc123');
    // WHEN the whole tree and one app are listed
    const all = await tree.list('.');
    const web = await tree.list('./apps/web/');
    // THEN paths are '/'-separated, sorted, skip .git and links leaving the root
    expect(all).toEqual([
      'apps/api/app.yaml',
      'apps/web/alias.yaml',
      'apps/web/base/deploy.yaml',
      'apps/web/values.yaml',
      'sluice.yaml',
    ]);
    expect(await tree.list('')).toEqual(all);
    expect(web).toEqual(['apps/web/alias.yaml', 'apps/web/base/deploy.yaml', 'apps/web/values.yaml']);
    expect(tree.commit).toBe('abc123');
    expect(tree.root).toBe(root);
  });

  it('reads files and returns undefined for missing paths and directories', async () => {
    // GIVEN a tree  WHEN files, missing files and directories are read
    const tree = createDirectoryTree(root);
    // THEN only real files have contents
    expect(await tree.read('apps/web/values.yaml')).toBe('replicas: 2\n');
    expect(await tree.read('apps/web/alias.yaml')).toBe('replicas: 2\n');
    expect(await tree.read('apps/missing.yaml')).toBeUndefined();
    expect(await tree.read('apps/web')).toBeUndefined();
    expect(await tree.list('apps/nothing')).toEqual([]);
  });

  it('refuses paths that escape the root', async () => {
    // GIVEN a tree
    const tree = createDirectoryTree(root);
    // WHEN a path climbs out, is absolute, or goes through a symlink leaving the root
    // THEN each is refused with BAD_INPUT and a fix
    await expect(tree.read('../secret.txt')).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(tree.read('apps/../../secret.txt')).rejects.toThrow(/escapes the repository root. Fix:/);
    await expect(tree.list('..')).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(tree.read('/etc/passwd')).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(tree.read('apps/escape.txt')).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('normalises harmless relative forms', () => {
    // GIVEN spellings of the same path  WHEN normalised  THEN they agree
    expect(normaliseTreePath('./apps//web/')).toBe('apps/web');
    expect(normaliseTreePath('apps/web/../api')).toBe('apps/api');
    expect(normaliseTreePath('.')).toBe('');
  });
});
