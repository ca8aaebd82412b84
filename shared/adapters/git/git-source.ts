/**
 * GitSource over isomorphic-git: shallow, single-branch fetches into one cached bare repository
 * per URL, and checkouts materialised once per commit.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { CHECKOUT_LIMIT_ENV } from '../../config/env.ts';
import { BadInputError, NotFoundError, SluiceError, UnavailableError } from '../../errors.ts';
import type { GitSource, SourceTree } from '../../ports/index.ts';
import { printable } from '../../printable.ts';
import { keyedLock } from '../keyed-lock.ts';
import { createDirectoryTree } from '../local/directory-tree.ts';
import {
  type CheckoutLimits,
  checkDirectory,
  checkLinks,
  DEFAULT_CHECKOUT_LIMITS,
  type IndexedEntry,
  kindOfMode,
  parseTree,
  type RawTreeEntry,
  type Refusal,
} from './tree-guard.ts';

export interface GitCredentials {
  readonly username: string;
  readonly password: string;
}

export interface GitSourceOptions {
  /** Directory for the cached repositories (`repos/<sha256 of url>`) and checkouts (`trees/<commit>`). */
  readonly cacheDir: string;
  /** Credentials for a URL (given without any userinfo); undefined for anonymous access. */
  readonly auth?: (url: string) => Promise<GitCredentials | undefined>;
  /** Commits fetched from the branch head the first time. @default 10 */
  readonly depth?: number;
  /** Successive deepenings tried before a commit is declared unreachable. @default [50, 500] */
  readonly deepen?: readonly number[];
  /** Bounds on what one checkout writes (tree-guard.ts); each default applies when left out. */
  readonly limits?: Partial<CheckoutLimits>;
}

const SHA = /^[0-9a-f]{40}$/;

/** The cached bare repository of a URL, for adapters that read objects themselves (commit-signatures.ts). */
export interface LocalGitObjects {
  /**
   * Runs `read` on the repository once every commit of `commits` is present (fetched and deepened
   * as for a checkout); undefined when one cannot be found on the branch.
   */
  withCommits<T>(
    repoUrl: string,
    branch: string,
    commits: readonly string[],
    read: (repo: { readonly fs: typeof fs; readonly gitdir: string; readonly cache: object }) => Promise<T>,
  ): Promise<T | undefined>;
}

/** New files only: never through an existing name or symlink. */
const WRITE_NEW =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

const refusalsFile = (treeDir: string): string => `${treeDir}.refusals.json`;

interface CheckoutPlan {
  /** Every accepted entry, parents before children. */
  readonly index: Map<string, IndexedEntry>;
  /** What was refused, and why; extended while writing (sizes are known then). */
  readonly refusals: Refusal[];
  readonly refuse: (refusal: Refusal) => void;
  readonly isRefused: (path: string) => boolean;
}

/** The URL without userinfo, safe for messages, logs and cache keys. */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
  }
};

const stripUserinfo = (text: string): string => text.replace(/\/\/[^/\s@]+@/g, '//');

const exists = (file: string): Promise<boolean> =>
  access(file).then(
    () => true,
    () => false,
  );

const withFix = <E extends SluiceError>(error: E, fix: string): E => {
  error.message = `${error.message}. Fix: ${fix}`;
  error.data.fix = fix;
  return error;
};

const checkSha = (value: string, name: string): void => {
  if (!SHA.test(value)) {
    throw new BadInputError(
      `${name} "${value}"`,
      'is not a full 40-character commit sha',
      'pass the full sha',
    );
  }
};

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

/**
 * Turns isomorphic-git and socket errors into domain errors. Only our own wording and the status
 * code travel on: a vendor message or response body could echo a URL with credentials.
 */
const translate = (error: unknown, url: string, action: string): unknown => {
  if (error instanceof SluiceError) return error;
  const safeUrl = redactUrl(url);
  const e = error as { code?: string; data?: { statusCode?: number; statusMessage?: string } };
  const cause = new Error(`${action} ${safeUrl} failed (${e.code ?? 'unknown error'})`);
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) {
    return new UnavailableError(`git server for ${safeUrl}`, new Error(`${action}: ${e.code}`), {
      url: safeUrl,
      errno: e.code,
    });
  }
  if (e.code === 'HttpError') {
    const status = e.data?.statusCode ?? 0;
    const data = { url: safeUrl, status };
    if (status >= 500 || status === 429 || status === 408) {
      return new UnavailableError(`git server for ${safeUrl}`, new Error(`${action}: HTTP ${status}`), data);
    }
    if (status === 404) {
      return withFix(
        new NotFoundError(`git repository ${safeUrl}`, data, cause),
        'check the repository URL in the webhook or sluice config',
      );
    }
    if (status === 401 || status === 403 || status === 203) {
      return new SluiceError(
        'UNAUTHORIZED',
        `${action} ${safeUrl} was refused with HTTP ${status}. Fix: give the git credentials read access to the repository`,
        { data, cause },
      );
    }
    return new SluiceError('GIT_FAILED', `${action} ${safeUrl} failed with HTTP ${status}`, { data, cause });
  }
  if (e.code === 'UserCanceledError') {
    return new SluiceError(
      'UNAUTHORIZED',
      `${action} ${safeUrl} was refused. Fix: give the git credentials read access to the repository`,
      { data: { url: safeUrl }, cause },
    );
  }
  // Anything else is unexpected: keep its message and stack for debugging, minus any userinfo.
  const original = error instanceof Error ? error : new Error(String(error));
  const scrubbed = new Error(stripUserinfo(original.message));
  scrubbed.stack = stripUserinfo(original.stack ?? '');
  return new SluiceError('GIT_FAILED', `${action} ${safeUrl} failed: ${scrubbed.message}`, {
    data: { url: safeUrl, gitCode: e.code },
    cause: scrubbed,
  });
};

export const createGitSource = (opts: GitSourceOptions): GitSource & LocalGitObjects => {
  const cacheDir = path.resolve(opts.cacheDir);
  const initialDepth = opts.depth ?? 10;
  const deepenSteps = opts.deepen ?? [50, 500];
  const limits: CheckoutLimits = { ...DEFAULT_CHECKOUT_LIMITS, ...opts.limits };
  // One chain per repo: isomorphic-git is not safe with concurrent writers on one gitdir.
  const lock = keyedLock();
  const caches = new Map<string, object>();

  const onAuth = opts.auth
    ? async (url: string) => {
        const credentials = await opts.auth?.(redactUrl(url));
        return credentials ? { username: credentials.username, password: credentials.password } : undefined;
      }
    : undefined;
  // A second refusal ends the attempt instead of asking for the same credentials again.
  const onAuthFailure = () => ({ cancel: true });

  const gitdirFor = (url: string): string =>
    path.join(cacheDir, 'repos', createHash('sha256').update(redactUrl(url)).digest('hex'));

  const cacheFor = (gitdir: string): object => {
    let cache = caches.get(gitdir);
    if (!cache) {
      cache = {};
      caches.set(gitdir, cache);
    }
    return cache;
  };

  const ensureInit = async (gitdir: string, url: string): Promise<void> => {
    if (await exists(path.join(gitdir, 'HEAD'))) return;
    await git.init({ fs, gitdir, bare: true, defaultBranch: 'main' });
    // fetch stores remote-tracking refs through this refspec; the stored URL carries no credentials.
    await git.addRemote({ fs, gitdir, remote: 'origin', url: redactUrl(url), force: true });
  };

  const hasCommit = async (gitdir: string, oid: string): Promise<boolean> => {
    try {
      await git.readCommit({ fs, gitdir, oid, cache: cacheFor(gitdir) });
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'NotFoundError') return false;
      throw error;
    }
  };

  const isShallow = (gitdir: string): Promise<boolean> => exists(path.join(gitdir, 'shallow'));

  const fetchBranch = async (
    url: string,
    gitdir: string,
    branch: string,
    depth: number,
    relative: boolean,
  ): Promise<void> => {
    try {
      await git.fetch({
        fs,
        http,
        gitdir,
        url,
        // The remote-tracking ref is what we already have, so only new objects travel.
        ref: `refs/remotes/origin/${branch}`,
        remoteRef: `refs/heads/${branch}`,
        singleBranch: true,
        tags: false,
        depth,
        relative,
        onAuth,
        onAuthFailure,
        cache: cacheFor(gitdir),
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'NotFoundError') {
        throw withFix(
          new NotFoundError(`branch ${branch} of ${redactUrl(url)}`, { url: redactUrl(url), branch }, error),
          `push the branch, or check the branch name`,
        );
      }
      throw translate(error, url, `fetching ${branch} from`);
    }
  };

  /** Makes `commit` present locally: fetch the branch head shallowly, then deepen in bounded steps. */
  const ensureCommit = async (
    url: string,
    gitdir: string,
    branch: string,
    commit: string,
  ): Promise<boolean> => {
    if (await hasCommit(gitdir, commit)) return true;
    await fetchBranch(url, gitdir, branch, initialDepth, false);
    if (await hasCommit(gitdir, commit)) return true;
    for (const step of deepenSteps) {
      if (!(await isShallow(gitdir))) return false;
      await fetchBranch(url, gitdir, branch, step, true);
      if (await hasCommit(gitdir, commit)) return true;
    }
    return false;
  };

  const commitNotFound = (url: string, branch: string, commit: string): NotFoundError => {
    const searched = initialDepth + deepenSteps.reduce((sum, step) => sum + step, 0);
    return withFix(
      new NotFoundError(`commit ${commit} on branch ${branch} of ${redactUrl(url)}`, {
        url: redactUrl(url),
        branch,
        commit,
        searched,
      }),
      `check that ${commit} was pushed to ${branch} (a force push may have removed it; ` +
        `only the last ${searched} commits of the branch are searched)`,
    );
  };

  const treeOf = async (gitdir: string, commit: string): Promise<string> =>
    (await git.readCommit({ fs, gitdir, oid: commit, cache: cacheFor(gitdir) })).commit.tree;

  /**
   * Reads the commit's whole tree from the object store (raw, so duplicates stay visible) and
   * decides what may be written: every name, mode, depth, size and symlink is checked first
   * (tree-guard.ts), and only then is anything written.
   */
  const planTree = async (gitdir: string, commit: string): Promise<CheckoutPlan> => {
    const refusals: Refusal[] = [];
    // A set of refused paths, probed once per ancestor: linear in depth, whatever the refusal count.
    const refused = new Set<string>();
    const refuse = (refusal: Refusal) => {
      refusals.push(refusal);
      refused.add(refusal.path);
    };
    const isRefused = (p: string) => {
      if (refused.has('')) return true;
      let at = p.indexOf('/');
      while (at >= 0) {
        if (refused.has(p.slice(0, at))) return true;
        at = p.indexOf('/', at + 1);
      }
      return refused.has(p);
    };
    const index = new Map<string, IndexedEntry>();
    let count = 0;
    let full = false;
    const visit = async (oid: string, dir: string, depth: number): Promise<void> => {
      const { type, object } = await git.readObject({
        fs,
        gitdir,
        oid,
        format: 'content',
        cache: cacheFor(gitdir),
      });
      let raw: RawTreeEntry[];
      try {
        if (type !== 'tree') throw new Error(`is a ${type}, not a tree`);
        raw = parseTree(object as Uint8Array);
      } catch (error) {
        refuse({
          path: dir,
          problem: `is not a readable git tree (${(error as Error).message})`,
          fix: 'push a commit written by git',
        });
        return;
      }
      for (const entry of checkDirectory(dir, raw, refuse)) {
        const entryPath = dir === '' ? entry.name : `${dir}/${entry.name}`;
        count += 1;
        if (count > limits.maxEntries) {
          refuse({
            path: '',
            problem: `has more than ${limits.maxEntries} files, directories and links`,
            fix: `split the repository, or raise ${CHECKOUT_LIMIT_ENV.maxEntries} on the host`,
          });
          full = true;
        }
        if (full) return;
        const kind = kindOfMode(entry.mode)!;
        if (kind === 'dir') {
          if (depth + 1 > limits.maxDepth) {
            refuse({
              path: entryPath,
              problem: `is nested ${depth + 1} directories deep, over the limit of ${limits.maxDepth}`,
              fix: `flatten the directory layout, or raise ${CHECKOUT_LIMIT_ENV.maxDepth} on the host`,
            });
            continue;
          }
          index.set(entryPath, { kind, oid: entry.oid });
          await visit(entry.oid, entryPath, depth + 1);
        } else if (kind === 'link') {
          const { object: target } = await git.readObject({
            fs,
            gitdir,
            oid: entry.oid,
            format: 'content',
            cache: cacheFor(gitdir),
          });
          index.set(entryPath, {
            kind,
            oid: entry.oid,
            target: Buffer.from(target as Uint8Array).toString('utf8'),
          });
        } else {
          index.set(entryPath, { kind, oid: entry.oid });
        }
      }
    };
    await visit(await treeOf(gitdir, commit), '', 0);
    checkLinks(index, isRefused, refuse);
    return { index, refusals, refuse, isRefused };
  };

  /**
   * Writes the accepted entries under `dir`: directories first, files opened with O_EXCL and
   * O_NOFOLLOW (so nothing already there, link or not, is ever written through), symlinks last.
   * Blobs over the size limits are refused here, when their size is known.
   */
  const writePlan = async (gitdir: string, plan: CheckoutPlan, dir: string): Promise<void> => {
    const { index, refuse, isRefused } = plan;
    await mkdir(dir);
    let total = 0;
    const links: [string, string][] = [];
    for (const [entryPath, entry] of index) {
      if (isRefused(entryPath)) continue;
      const target = path.join(dir, ...entryPath.split('/'));
      if (entry.kind === 'dir') {
        await mkdir(target);
      } else if (entry.kind === 'link') {
        links.push([entry.target ?? '', target]);
      } else {
        const { object } = await git.readObject({
          fs,
          gitdir,
          oid: entry.oid,
          format: 'content',
          cache: cacheFor(gitdir),
        });
        const blob = object as Uint8Array;
        if (blob.byteLength > limits.maxFileBytes || total + blob.byteLength > limits.maxTotalBytes) {
          refuse({
            path: entryPath,
            problem:
              blob.byteLength > limits.maxFileBytes
                ? `is ${blob.byteLength} bytes, over the limit of ${limits.maxFileBytes} for one file`
                : `brings the commit's files over the limit of ${limits.maxTotalBytes} bytes in total`,
            fix: `keep large files out of the config repository, or raise ${blob.byteLength > limits.maxFileBytes ? CHECKOUT_LIMIT_ENV.maxFileBytes : CHECKOUT_LIMIT_ENV.maxTotalBytes} on the host`,
          });
          continue;
        }
        total += blob.byteLength;
        const handle = await open(target, WRITE_NEW, entry.kind === 'executable' ? 0o755 : 0o644);
        try {
          await handle.writeFile(blob);
        } finally {
          await handle.close();
        }
      }
    }
    for (const [linkTarget, at] of links) {
      // A link to a file refused for its size would dangle: it is refused with it.
      const pointsAt = path
        .relative(dir, path.resolve(path.dirname(at), linkTarget))
        .split(path.sep)
        .join('/');
      if (isRefused(pointsAt)) {
        refuse({
          path: path.relative(dir, at).split(path.sep).join('/'),
          problem: `is a symlink to "${printable(pointsAt)}", which was refused`,
          fix: 'replace the symlink with the file itself, or a relative link to a file inside the repository',
        });
        continue;
      }
      await symlink(linkTarget, at);
    }
  };

  /**
   * Writes the tree once into a temporary directory and renames it, so no half tree is ever
   * visible; the refusals are stored beside it first, so a cached tree always has its record.
   */
  const materialise = async (gitdir: string, commit: string, treeDir: string): Promise<void> => {
    const temp = path.join(path.dirname(treeDir), `.tmp-${commit}-${randomBytes(6).toString('hex')}`);
    try {
      const plan = await planTree(gitdir, commit);
      await writePlan(gitdir, plan, temp);
      await writeFile(`${temp}.refusals.json`, JSON.stringify(plan.refusals));
      await rename(`${temp}.refusals.json`, refusalsFile(treeDir));
      try {
        await rename(temp, treeDir);
      } catch (error) {
        if (!(await exists(treeDir))) throw error;
      }
    } finally {
      await rm(temp, { recursive: true, force: true });
      await rm(`${temp}.refusals.json`, { force: true });
    }
  };

  /** The refusals of a materialised tree; undefined for a tree cached before they were recorded. */
  const readRefusals = async (treeDir: string): Promise<Refusal[] | undefined> => {
    try {
      return JSON.parse(await readFile(refusalsFile(treeDir), 'utf8')) as Refusal[];
    } catch {
      return undefined;
    }
  };

  /**
   * The raw entries of a tree object, grouped by name (a hostile tree may repeat one). Read raw,
   * not through isomorphic-git's walker, which throws on the `.git` entries and odd names an
   * attacker can push; planning must still see such a commit, so the render can refuse it.
   */
  const rawEntries = async (
    gitdir: string,
    oid: string | undefined,
  ): Promise<Map<string, RawTreeEntry[]>> => {
    const byName = new Map<string, RawTreeEntry[]>();
    if (oid === undefined) return byName;
    const { type, object } = await git.readObject({
      fs,
      gitdir,
      oid,
      format: 'content',
      cache: cacheFor(gitdir),
    });
    let entries: RawTreeEntry[] = [];
    try {
      entries = type === 'tree' ? parseTree(object as Uint8Array) : [];
    } catch {
      // A malformed tree lists nothing here; the checkout refuses it by path.
    }
    for (const entry of entries) {
      const same = byName.get(entry.name);
      if (same) same.push(entry);
      else byName.set(entry.name, [entry]);
    }
    return byName;
  };

  const subtreeOf = (entries: readonly RawTreeEntry[] | undefined): string | undefined =>
    entries?.length === 1 && kindOfMode(entries[0]!.mode) === 'dir' ? entries[0]!.oid : undefined;

  /** Every non-directory path of the commit (bounded by maxEntries and maxDepth). */
  const allFiles = async (gitdir: string, commit: string): Promise<string[]> => {
    const files: string[] = [];
    const visit = async (oid: string, prefix: string, depth: number): Promise<void> => {
      for (const [name, entries] of await rawEntries(gitdir, oid)) {
        if (files.length >= limits.maxEntries) return;
        const subtree = subtreeOf(entries);
        if (subtree !== undefined && depth < limits.maxDepth)
          await visit(subtree, `${prefix}${name}/`, depth + 1);
        else files.push(`${prefix}${name}`);
      }
    };
    await visit(await treeOf(gitdir, commit), '', 0);
    return files.sort();
  };

  /** Paths that differ between two commits: unchanged subtrees are skipped without reading. */
  const diffTrees = async (gitdir: string, from: string, to: string): Promise<string[]> => {
    const changed: string[] = [];
    const visit = async (a: string | undefined, b: string | undefined, prefix: string, depth: number) => {
      if (a === b) return;
      const [before, after] = await Promise.all([rawEntries(gitdir, a), rawEntries(gitdir, b)]);
      for (const name of new Set([...before.keys(), ...after.keys()])) {
        if (changed.length >= limits.maxEntries) return;
        const x = before.get(name);
        const y = after.get(name);
        const same =
          x?.length === 1 && y?.length === 1 && x[0]!.oid === y[0]!.oid && x[0]!.mode === y[0]!.mode;
        if (same) continue;
        const path = `${prefix}${name}`;
        const [subA, subB] = [subtreeOf(x), subtreeOf(y)];
        if ((x && subA === undefined) || (y && subB === undefined) || depth >= limits.maxDepth)
          changed.push(path);
        if ((subA || subB) && depth < limits.maxDepth) await visit(subA, subB, `${path}/`, depth + 1);
      }
    };
    await visit(await treeOf(gitdir, from), await treeOf(gitdir, to), '', 0);
    return [...new Set(changed)].sort();
  };

  return {
    withCommits(repoUrl, branch, commits, read) {
      for (const commit of commits) checkSha(commit, 'commit');
      const gitdir = gitdirFor(repoUrl);
      return lock(gitdir, async () => {
        await ensureInit(gitdir, repoUrl);
        for (const commit of commits) {
          if (!(await ensureCommit(repoUrl, gitdir, branch, commit))) return undefined;
        }
        return read({ fs, gitdir, cache: cacheFor(gitdir) });
      });
    },

    async head(repoUrl: string, branch: string): Promise<string | undefined> {
      const ref = `refs/heads/${branch}`;
      try {
        const refs = await git.listServerRefs({ http, url: repoUrl, prefix: ref, onAuth, onAuthFailure });
        return refs.find((entry) => entry.ref === ref)?.oid;
      } catch (error) {
        throw translate(error, repoUrl, 'listing refs of');
      }
    },

    checkout(repoUrl: string, branch: string, commit: string): Promise<SourceTree> {
      checkSha(commit, 'commit');
      const gitdir = gitdirFor(repoUrl);
      return lock(gitdir, async () => {
        const treeDir = path.join(cacheDir, 'trees', commit);
        let refusals = (await exists(treeDir)) ? await readRefusals(treeDir) : undefined;
        if (refusals === undefined) {
          // Absent, or cached by a version that did not check trees: write it again, checked.
          await rm(treeDir, { recursive: true, force: true });
          await ensureInit(gitdir, repoUrl);
          if (!(await ensureCommit(repoUrl, gitdir, branch, commit))) {
            throw commitNotFound(repoUrl, branch, commit);
          }
          await mkdir(path.dirname(treeDir), { recursive: true });
          await materialise(gitdir, commit, treeDir);
          refusals = (await readRefusals(treeDir)) ?? [];
        }
        return createDirectoryTree(treeDir, commit, { refusals });
      });
    },

    changedPaths(
      repoUrl: string,
      branch: string,
      from: string | null,
      to: string,
    ): Promise<string[] | undefined> {
      checkSha(to, 'to');
      if (from !== null) checkSha(from, 'from');
      const gitdir = gitdirFor(repoUrl);
      return lock(gitdir, async () => {
        await ensureInit(gitdir, repoUrl);
        if (!(await ensureCommit(repoUrl, gitdir, branch, to))) throw commitNotFound(repoUrl, branch, to);
        if (from === null) return allFiles(gitdir, to);
        if (from === to) return [];
        if (!(await ensureCommit(repoUrl, gitdir, branch, from))) return undefined;
        return diffTrees(gitdir, from, to);
      });
    },

    async isAncestor(
      repoUrl: string,
      branch: string,
      ancestor: string,
      descendant: string,
    ): Promise<boolean> {
      if (ancestor === descendant) return true;
      if (!SHA.test(ancestor) || !SHA.test(descendant)) return false;
      const gitdir = gitdirFor(repoUrl);
      return lock(gitdir, async () => {
        await ensureInit(gitdir, repoUrl);
        if (!(await ensureCommit(repoUrl, gitdir, branch, descendant))) return false;
        if (!(await ensureCommit(repoUrl, gitdir, branch, ancestor))) return false;
        const check = () =>
          git
            .isDescendent({ fs, gitdir, oid: descendant, ancestor, depth: -1, cache: cacheFor(gitdir) })
            .catch(() => false);
        if (await check()) return true;
        // Both commits may be present yet joined only by history beyond the shallow boundary.
        for (const step of deepenSteps) {
          if (!(await isShallow(gitdir))) return false;
          await fetchBranch(repoUrl, gitdir, branch, step, true);
          if (await check()) return true;
        }
        return false;
      });
    },
  };
};
