/**
 * What a commit's tree may hold before Sluice writes any of it to disk. Git itself accepts trees
 * that no `git checkout` would write (duplicate names, `.git` entries, names that collide on a
 * case-insensitive disk, symlinks out of the repository) and `git mktree` or a hand-written pack
 * can push them, so the checkout checks every entry the way git's own `verify_path` does (with the
 * NTFS and HFS+ spellings of `.git`), plus symlink targets, submodules and sizes. A refused entry
 * is never written; reads of it (or of a directory holding it) fail as Render Failed naming it.
 */
import { SluiceError } from '../../errors.ts';
import { printable } from '../../printable.ts';

export interface CheckoutLimits {
  /** The largest file a checkout writes. @default 16 MiB */
  readonly maxFileBytes: number;
  /** Files, directories and links in one commit. @default 50,000 */
  readonly maxEntries: number;
  /** Directory nesting below the repository root. @default 32 */
  readonly maxDepth: number;
  /** All files of one commit together. @default 256 MiB */
  readonly maxTotalBytes: number;
}

export const DEFAULT_CHECKOUT_LIMITS: CheckoutLimits = {
  maxFileBytes: 16 * 1024 * 1024,
  maxEntries: 50_000,
  maxDepth: 32,
  maxTotalBytes: 256 * 1024 * 1024,
};

/** An entry the checkout refused: its repo-relative path ('' is the whole commit) and why. */
export interface Refusal {
  readonly path: string;
  readonly problem: string;
  readonly fix: string;
}

/** The Render Failed a read of a refused entry answers with (same shape as the core's RenderError). */
export const refusedError = (refusal: Refusal, commit: string): SluiceError => {
  const file = refusal.path === '' ? '.' : refusal.path;
  return new SluiceError(
    'RENDER_FAILED',
    `${printable(file)}: ${refusal.problem} (commit ${commit.slice(0, 7)}); Sluice refused to check it out. Fix: ${refusal.fix}`,
    { data: { file, problem: refusal.problem, fix: refusal.fix, refused: true, commit }, retryable: false },
  );
};

/** True when `path` is the refused path or lies under it. */
export const isUnder = (path: string, refused: string): boolean =>
  refused === '' || path === refused || path.startsWith(`${refused}/`);

// Code points HFS+ ignores in names, so `.g\u200cit` is `.git` on a Mac (git's is_hfs_dotgit list).
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/** The name as a case-insensitive, normalising disk would store it: the collision key. */
export const foldName = (name: string): string =>
  name.replace(HFS_IGNORED, '').normalize('NFC').toLowerCase();

/**
 * True for every spelling of `.git` that some filesystem resolves to the repository's own
 * `.git`: any case, trailing dots and spaces (Windows), an NTFS stream (`.git::$INDEX_ALLOCATION`),
 * the 8.3 short name (`git~1`), and HFS+ ignorable code points.
 */
export const isDotGit = (name: string): boolean => {
  const base = foldName(name)
    .split(':')[0]!
    .replace(/[. ]+$/, '');
  return base === '.git' || /^git~\d+$/.test(base);
};

/** Why `name` cannot be one entry of a directory, or undefined when it can. */
export const nameProblem = (name: string): string | undefined => {
  if (name === '') return 'has an empty name';
  if (name === '.' || name === '..') return `is named "${name}", which would leave its directory`;
  if (name.includes('/') || name.includes('\\')) return 'has a path separator in its name';
  if (name.includes('\0')) return 'has a NUL character in its name';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'has a control character in its name';
  if (isDotGit(name))
    return 'is a ".git" entry (in some spelling), which would act as the checkout\'s own git directory';
  if (Buffer.byteLength(name) > 255) return 'has a name longer than 255 bytes';
  return undefined;
};

export type EntryKind = 'file' | 'executable' | 'dir' | 'link' | 'gitlink';

export const kindOfMode = (mode: string): EntryKind | undefined => {
  switch (mode) {
    case '40000':
    case '040000':
      return 'dir';
    case '100644':
    case '100664':
      return 'file';
    case '100755':
      return 'executable';
    case '120000':
      return 'link';
    case '160000':
      return 'gitlink';
    default:
      return undefined;
  }
};

export interface RawTreeEntry {
  readonly mode: string;
  readonly name: string;
  readonly oid: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a raw tree object (`<mode> <name>\0<20-byte oid>`…) keeping every entry as stored:
 * duplicates and odd names included, which isomorphic-git's own reader would hide.
 * Throws on a malformed object or a name that is not UTF-8.
 */
export const parseTree = (bytes: Uint8Array): RawTreeEntry[] => {
  const entries: RawTreeEntry[] = [];
  let at = 0;
  while (at < bytes.length) {
    const space = bytes.indexOf(0x20, at);
    const nul = space < 0 ? -1 : bytes.indexOf(0x00, space + 1);
    if (space < 0 || nul < 0 || nul + 21 > bytes.length) throw new Error('malformed tree object');
    const mode = Buffer.from(bytes.subarray(at, space)).toString('latin1');
    let name: string;
    try {
      name = utf8.decode(bytes.subarray(space + 1, nul));
    } catch {
      throw new Error('a name in the tree is not UTF-8');
    }
    const oid = Buffer.from(bytes.subarray(nul + 1, nul + 21)).toString('hex');
    entries.push({ mode, name, oid });
    at = nul + 21;
  }
  return entries;
};

export interface IndexedEntry {
  readonly kind: EntryKind;
  readonly oid: string;
  /** For links: the stored target. */
  readonly target?: string;
}

const joinRel = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);

/**
 * Checks one directory's entries: exact duplicates and case/normalisation collisions refuse every
 * entry involved; a bad name or an unknown mode refuses that entry. Returns the accepted entries.
 */
export const checkDirectory = (
  dir: string,
  entries: readonly RawTreeEntry[],
  refuse: (refusal: Refusal) => void,
): RawTreeEntry[] => {
  const byFold = new Map<string, RawTreeEntry[]>();
  for (const entry of entries) {
    const key = foldName(entry.name);
    const group = byFold.get(key);
    if (group) group.push(entry);
    else byFold.set(key, [entry]);
  }
  const accepted: RawTreeEntry[] = [];
  const refusedNames = new Set<string>();
  for (const group of byFold.values()) {
    if (group.length < 2) continue;
    const names = [...new Set(group.map((e) => e.name))];
    for (const name of names) {
      refusedNames.add(name);
      refuse({
        path: joinRel(dir, name),
        problem:
          names.length === 1
            ? 'appears more than once in its directory (a duplicate tree entry)'
            : `collides with ${names
                .filter((n) => n !== name)
                .map((n) => `"${printable(joinRel(dir, n))}"`)
                .join(', ')} on a case-insensitive or normalising filesystem`,
        fix: 'keep one entry per name, and names that differ by more than case, in each directory',
      });
    }
  }
  for (const entry of entries) {
    if (refusedNames.has(entry.name)) continue;
    const path = joinRel(dir, entry.name);
    const problem = nameProblem(entry.name);
    if (problem) {
      refuse({ path, problem, fix: 'remove or rename the entry and push again' });
      continue;
    }
    const kind = kindOfMode(entry.mode);
    if (kind === undefined) {
      refuse({ path, problem: `has the unknown git mode ${entry.mode}`, fix: 'commit it as a regular file' });
      continue;
    }
    if (kind === 'gitlink') {
      refuse({
        path,
        problem: 'is a submodule, whose content lives in another repository',
        fix: 'vendor the files into this repository instead of a submodule',
      });
      continue;
    }
    accepted.push(entry);
  }
  return accepted;
};

const MAX_LINK_TARGET = 1024;

/** Why the symlink at `linkPath` is unsafe, or undefined; `index` holds every accepted entry. */
const linkProblem = (
  linkPath: string,
  target: string,
  index: ReadonlyMap<string, IndexedEntry>,
  isRefused: (path: string) => boolean,
): { problem: string; resolved?: string } | { resolved: string; kind: EntryKind } => {
  if (target.length > MAX_LINK_TARGET)
    return { problem: `points at a target longer than ${MAX_LINK_TARGET} characters` };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (target === '' || /[\u0000-\u001f\\]/.test(target))
    return { problem: 'has an empty or unprintable target' };
  if (target.startsWith('/') || /^[A-Za-z]:/.test(target)) {
    return { problem: `points at the absolute path "${printable(target)}", outside the repository` };
  }
  const stack = linkPath.split('/').slice(0, -1);
  const parts = target.split('/');
  for (const [i, part] of parts.entries()) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0)
        return { problem: `points at "${printable(target)}", which leaves the repository` };
      stack.pop();
      continue;
    }
    stack.push(part);
    const here = stack.join('/');
    if (isRefused(here)) return { problem: `points at "${printable(here)}", which was refused` };
    const entry = index.get(here);
    if (entry === undefined)
      return { problem: `points at "${printable(target)}", which is not in the commit` };
    if (entry.kind === 'link') {
      return {
        problem: `points through the symlink "${printable(here)}" (symlink chains and loops are refused)`,
      };
    }
    const last = parts.slice(i + 1).every((p) => p === '' || p === '.');
    if (!last && entry.kind !== 'dir') return { problem: `points through the file "${printable(here)}"` };
  }
  const resolved = stack.join('/');
  if (resolved === '') return { problem: 'points at the repository root, which makes a loop' };
  return { resolved, kind: index.get(resolved)!.kind };
};

/**
 * Refuses symlinks that leave the repository (absolute, `..` past the root), that go through
 * another symlink (chains and loops), that dangle, and directory links that could loop when
 * followed: one pointing at its own ancestor, or at a directory holding another directory link.
 */
export const checkLinks = (
  index: ReadonlyMap<string, IndexedEntry>,
  isRefused: (path: string) => boolean,
  refuse: (refusal: Refusal) => void,
): void => {
  const fix = 'replace the symlink with the file itself, or a relative link to a file inside the repository';
  const dirLinks: { path: string; resolved: string }[] = [];
  for (const [path, entry] of index) {
    if (entry.kind !== 'link' || isRefused(path)) continue;
    const result = linkProblem(path, entry.target ?? '', index, isRefused);
    if ('problem' in result) {
      refuse({ path, problem: `is a symlink that ${result.problem}`, fix });
    } else if (result.kind === 'dir') {
      dirLinks.push({ path, resolved: result.resolved });
    }
  }
  // Every directory above a directory link, with the first such link: one lookup per link.
  const holding = new Map<string, string>();
  for (const link of dirLinks) {
    const parts = link.path.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const dir = parts.slice(0, i).join('/');
      if (!holding.has(dir)) holding.set(dir, link.path);
    }
  }
  for (const link of dirLinks) {
    if (isUnder(link.path, link.resolved)) {
      refuse({
        path: link.path,
        problem: `is a symlink to its own ancestor "${printable(link.resolved)}", a loop`,
        fix,
      });
      continue;
    }
    // Not the link itself: a link under its own target was refused above as a loop.
    const inner = holding.get(link.resolved);
    if (inner !== undefined) {
      refuse({
        path: link.path,
        problem: `is a symlink to "${printable(link.resolved)}", which holds the directory symlink "${printable(inner)}" (links through each other)`,
        fix,
      });
    }
  }
};
