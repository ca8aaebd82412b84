import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { BadInputError } from '../../errors.ts';
import type { SourceTree } from '../../ports/index.ts';
import { type Refusal, refusedError } from '../git/tree-guard.ts';

/** The commit reported by a tree over a plain directory that is not tied to one. */
export const WORKING_TREE = 'working-tree';

/**
 * Normalises a repo-relative path (`apps/web`, `./apps/web/`, `.` or `''`) to `/`-separated form
 * with no leading `./`; `''` is the root. Throws BAD_INPUT for absolute paths and paths that
 * climb out of the root, so a crafted `sluice.yaml` can never make us read `/etc/passwd`.
 */
export const normaliseTreePath = (input: string): string => {
  const slashed = input.replaceAll('\\', '/');
  if (slashed.startsWith('/') || /^[A-Za-z]:/.test(slashed) || slashed.includes('\0')) {
    throw new BadInputError(
      `path "${input}"`,
      'is absolute, but source tree paths are relative to the repository root',
      'use a repo-relative path such as "apps/web"',
    );
  }
  const normalised = path.posix.normalize(slashed);
  if (normalised === '..' || normalised.startsWith('../')) {
    throw new BadInputError(
      `path "${input}"`,
      'escapes the repository root',
      'use a repo-relative path that stays inside the repository, without ".."',
    );
  }
  return normalised === '.' || normalised === './' ? '' : normalised.replace(/\/$/, '');
};

const isInside = (root: string, candidate: string): boolean =>
  candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : `${root}${path.sep}`);

const isMissing = (error: unknown): boolean => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

export interface DirectoryTreeOptions {
  /**
   * Entries the git checkout refused to write (tree-guard.ts). Reading one, anything under it, or
   * listing a directory that holds one fails with Render Failed naming it, so the app that would
   * have used it fails instead of rendering without it.
   */
  readonly refusals?: readonly Refusal[];
}

/**
 * A SourceTree over a plain directory: `sluice render DIR`, and the materialised checkouts of the
 * git adapter. `.git` directories are skipped; symlinks are followed only while they stay inside
 * the root.
 */
export const createDirectoryTree = (
  root: string,
  commit: string = WORKING_TREE,
  options: DirectoryTreeOptions = {},
): SourceTree => {
  const absoluteRoot = path.resolve(root);
  // Refused paths, and every directory above one: lookups linear in depth, not in refusals.
  const refused = new Map<string, Refusal>();
  const holding = new Map<string, Refusal>();
  for (const refusal of options.refusals ?? []) {
    if (!refused.has(refusal.path)) refused.set(refusal.path, refusal);
    const parts = refusal.path.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const dir = parts.slice(0, i).join('/');
      if (!holding.has(dir)) holding.set(dir, refusal);
    }
  }
  /**
   * Throws the refusal covering `relative`, or for a listing one lying under it. A listing of the
   * repository root (whole-repo scans such as CRD discovery) leaves refused entries out instead,
   * so one app's bad entry fails that app, not every app of the commit.
   */
  const checkRefused = (relative: string, listing: boolean): void => {
    if (refused.size === 0) return;
    let hit = refused.get('');
    const parts = relative === '' ? [] : relative.split('/');
    for (let i = 1; hit === undefined && i <= parts.length; i += 1)
      hit = refused.get(parts.slice(0, i).join('/'));
    if (hit === undefined && listing && relative !== '') hit = holding.get(relative);
    if (hit) throw refusedError(hit, commit);
  };
  let realRoot: Promise<string> | undefined;
  const resolveRealRoot = (): Promise<string> => {
    realRoot ??= realpath(absoluteRoot).catch(() => absoluteRoot);
    return realRoot;
  };

  /** The real on-disk location of `relative`, or undefined when it is missing or escapes the root. */
  const locate = async (relative: string): Promise<string | undefined> => {
    const absolute = path.join(absoluteRoot, ...relative.split('/').filter(Boolean));
    let real: string;
    try {
      real = await realpath(absolute);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    if (!isInside(await resolveRealRoot(), real)) {
      throw new BadInputError(
        `path "${relative}"`,
        'resolves (through a symlink) outside the repository root',
        'replace the symlink with a regular file inside the repository',
      );
    }
    return real;
  };

  const walk = async (relative: string, out: string[]): Promise<void> => {
    const absolute = path.join(absoluteRoot, ...relative.split('/').filter(Boolean));
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(absolute, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const entry of entries) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== '.git') await walk(child, out);
      } else if (entry.isFile()) {
        out.push(child);
      } else if (entry.isSymbolicLink()) {
        // A link is listed when it points at a file inside the root; anything else is left out.
        const real = await realpath(path.join(absolute, entry.name)).catch(() => undefined);
        if (real === undefined || !isInside(await resolveRealRoot(), real)) continue;
        if ((await stat(real)).isFile()) out.push(child);
      }
    }
  };

  return {
    commit,
    root: absoluteRoot,
    async list(dir: string): Promise<string[]> {
      const relative = normaliseTreePath(dir);
      checkRefused(relative, true);
      const located = await locate(relative);
      if (located === undefined || !(await lstat(located)).isDirectory()) return [];
      const out: string[] = [];
      await walk(relative, out);
      return out.sort();
    },
    async read(file: string): Promise<string | undefined> {
      const relative = normaliseTreePath(file);
      if (relative === '') return undefined;
      checkRefused(relative, false);
      const located = await locate(relative);
      if (located === undefined) return undefined;
      try {
        return await readFile(located, 'utf8');
      } catch (error) {
        if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
        throw error;
      }
    },
  };
};
