/**
 * The one way Sluice turns names it did not choose (object names, namespaces, kinds, app and
 * target names, store keys) into file paths. Every writer joins through `safeJoin`, which refuses
 * what would leave its root; `writeFileInside` also refuses a symlinked parent, so a link planted
 * in a target or workdir cannot redirect a write, and writes through a fresh temp file (`wx`) and
 * a rename, which replaces a link at the final name instead of following it.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { SluiceError } from '../errors.ts';
import { printable } from '../printable.ts';

/** A path that would leave its root: the message names the path, the root and the fix. */
export class UnsafePathError extends SluiceError {
  constructor(root: string, relative: string, problem: string) {
    const fix = 'use names that are valid Kubernetes names (lower-case letters, digits, "-" and ".")';
    super('UNSAFE_PATH', `"${printable(relative)}" under ${printable(root)}: ${problem}. Fix: ${fix}`, {
      data: { root, path: relative, problem, fix },
    });
  }
}

const problemOf = (segment: string): string | undefined => {
  if (segment === '') return 'has an empty path segment';
  if (segment === '.' || segment === '..')
    return `has a "${segment}" segment, which would leave its directory`;
  if (segment.includes('\0')) return 'contains a NUL character';
  if (segment.includes('/') || segment.includes('\\')) return 'contains a path separator';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(segment)) return 'contains a control character';
  if (segment.length > 255) return 'has a segment longer than 255 characters';
  return undefined;
};

const isInside = (root: string, candidate: string): boolean =>
  candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : `${root}${path.sep}`);

/**
 * `root/seg1/seg2/…`, where every segment is one plain file name: never empty, `.`, `..`, absolute,
 * with a separator, NUL or another control character. Throws UNSAFE_PATH naming the offending path.
 */
export const safeJoin = (root: string, ...segments: readonly string[]): string => {
  const absoluteRoot = path.resolve(root);
  const relative = segments.join('/');
  for (const segment of segments) {
    const problem = problemOf(segment);
    if (problem) throw new UnsafePathError(absoluteRoot, relative, problem);
  }
  const joined = path.resolve(absoluteRoot, ...segments);
  if (!isInside(absoluteRoot, joined) || joined === absoluteRoot) {
    throw new UnsafePathError(absoluteRoot, relative, 'resolves outside its root');
  }
  return joined;
};

/** Splits a `/`-separated relative path and joins it safely (see safeJoin). */
export const safeJoinRelative = (root: string, relative: string): string => {
  if (relative.startsWith('/') || /^[A-Za-z]:/.test(relative)) {
    throw new UnsafePathError(path.resolve(root), relative, 'is absolute');
  }
  return safeJoin(root, ...relative.split('/'));
};

/** Refuses when a directory between `root` (exclusive) and `file` (exclusive) is a symlink. */
const checkParents = async (root: string, file: string): Promise<void> => {
  const relative = path.relative(root, path.dirname(file));
  if (relative === '') return;
  let current = root;
  for (const segment of relative.split(path.sep)) {
    current = path.join(current, segment);
    const stat = await lstat(current).catch(() => undefined);
    if (stat === undefined) return;
    if (stat.isSymbolicLink() || !stat.isDirectory()) {
      throw new UnsafePathError(
        root,
        path.relative(root, file),
        `has a parent "${path.relative(root, current)}" that is ${stat.isSymbolicLink() ? 'a symlink' : 'not a directory'}`,
      );
    }
  }
};

/** Creates the parents of `file` below `root`, one by one, refusing symlinked parents. */
const makeParents = async (root: string, file: string): Promise<void> => {
  await mkdir(root, { recursive: true });
  await checkParents(root, file);
  const relative = path.relative(root, path.dirname(file));
  if (relative === '') return;
  let current = root;
  for (const segment of relative.split(path.sep)) {
    current = path.join(current, segment);
    await mkdir(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  await checkParents(root, file);
};

export interface WriteInsideOptions {
  /** File mode of a new file. @default 0o644 */
  readonly mode?: number;
}

/**
 * Writes `data` to `root/segments…` atomically: parents created without following symlinks, a
 * fresh temp file opened with O_CREAT|O_EXCL|O_NOFOLLOW, then renamed over the name.
 */
export const writeFileInside = async (
  root: string,
  segments: readonly string[],
  data: string | Uint8Array,
  options: WriteInsideOptions = {},
): Promise<string> => {
  const absoluteRoot = path.resolve(root);
  const file = safeJoin(absoluteRoot, ...segments);
  await makeParents(absoluteRoot, file);
  const tmp = `${file}.${randomUUID()}.tmp`;
  const handle = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    options.mode ?? 0o644,
  );
  try {
    await handle.writeFile(data);
    await handle.chmod(options.mode ?? 0o644);
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  return file;
};

/** Reads `root/segments…`, or undefined when missing; refuses names and parents that leave the root. */
export const readFileInside = async (
  root: string,
  segments: readonly string[],
): Promise<Buffer | undefined> => {
  const absoluteRoot = path.resolve(root);
  const file = safeJoin(absoluteRoot, ...segments);
  await checkParents(absoluteRoot, file);
  const stat = await lstat(file).catch(() => undefined);
  if (stat === undefined) return undefined;
  if (stat.isSymbolicLink()) {
    throw new UnsafePathError(absoluteRoot, segments.join('/'), 'is a symlink');
  }
  return readFile(file);
};

/** Removes `root/segments…` (not following a symlink at the name); refuses paths that leave the root. */
export const removeInside = async (root: string, segments: readonly string[]): Promise<void> => {
  const absoluteRoot = path.resolve(root);
  const file = safeJoin(absoluteRoot, ...segments);
  await checkParents(absoluteRoot, file);
  await rm(file, { force: true });
};
