/**
 * GitWriter over isomorphic-git: a cached bare clone per URL, trees rewritten in the object
 * store (no working directory), a commit on top of the remote head, and a plain (never forced)
 * push. Credentials come from the secret store at call time and never reach Git or a message.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import git, { TREE, type TreeEntry, type WalkerEntry } from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { ConflictError, NotFoundError, SluiceError, UnavailableError } from '../../errors.ts';
import type { GitWriter, RevertResult, SecretStore } from '../../ports/index.ts';
import { printable } from '../../printable.ts';
import type { CommitSigner } from './commit-signing.ts';
import { type GitCredentials, redactUrl } from './git-source.ts';

export interface GitWriterOptions {
  /** Directory for the writer's own bare clones (`writer/<sha256 of url>`). */
  readonly cacheDir: string;
  /** Credentials for a URL (given without userinfo); undefined for anonymous access. */
  readonly auth?: (url: string) => Promise<GitCredentials | undefined>;
  /** @default Sluice <sluice@localhost> */
  readonly author?: { name: string; email: string };
  /**
   * Signs each revert commit (Sluice's own key, docs/provenance.md); unsigned when absent. May
   * answer later: the deployed rollback reads its key from Secrets Manager on first use.
   */
  readonly signer?: { sign(payload: string): ReturnType<CommitSigner['sign']> | Promise<string> };
}

/**
 * Credentials from the secret store: the secret holds `{"username":…,"password":…}`, `user:token`
 * or a bare token (sent as `x-access-token`, as GitHub apps expect).
 */
export const secretStoreAuth =
  (secrets: SecretStore, ref: string) =>
  async (_url: string): Promise<GitCredentials> => {
    const value = (await secrets.get(ref)).trim();
    if (value.startsWith('{')) {
      const parsed = JSON.parse(value) as { username?: string; password?: string };
      return { username: parsed.username ?? 'x-access-token', password: parsed.password ?? '' };
    }
    const colon = value.indexOf(':');
    return colon > 0
      ? { username: value.slice(0, colon), password: value.slice(colon + 1) }
      : { username: 'x-access-token', password: value };
  };

const NETWORK = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|UND_ERR_SOCKET)$/;

/** Vendor errors become domain errors carrying only our wording and the status, never a URL with userinfo. */
const translate = (error: unknown, url: string, action: string): unknown => {
  if (error instanceof SluiceError) return error;
  const e = error as { code?: string; data?: { statusCode?: number; reason?: string } };
  const safeUrl = redactUrl(url);
  const status = e.data?.statusCode;
  if ((e.code && NETWORK.test(e.code)) || (status !== undefined && (status >= 500 || status === 429))) {
    return new UnavailableError(`git server for ${safeUrl}`, new Error(`${action}: ${e.code ?? status}`), {
      url: safeUrl,
    });
  }
  if (e.code === 'PushRejectedError') {
    return new ConflictError(`branch on ${safeUrl} (${e.data?.reason ?? 'rejected'})`, { url: safeUrl });
  }
  if (status === 401 || status === 403 || e.code === 'UserCanceledError') {
    return new SluiceError(
      'UNAUTHORIZED',
      `${action} ${safeUrl} was refused. Fix: give the git credentials in the secret store write access to the repository`,
      { data: { url: safeUrl, status } },
    );
  }
  return new SluiceError('GIT_FAILED', `${action} ${safeUrl} failed (${e.code ?? 'unknown error'})`, {
    data: { url: safeUrl, gitCode: e.code },
  });
};

const under = (file: string, paths: readonly string[]) =>
  paths.some((p) => p === '.' || file === p || file.startsWith(`${p}/`));
const leadsTo = (dir: string, paths: readonly string[]) =>
  dir === '.' || paths.some((p) => p === '.' || under(dir, [p]) || p.startsWith(`${dir}/`));

type Blob = { oid: string; mode: string };

export const createGitWriter = (opts: GitWriterOptions): GitWriter => {
  const author = opts.author ?? { name: 'Sluice', email: 'sluice@localhost' };
  const signer = opts.signer;
  const onAuth = opts.auth
    ? async (url: string) => {
        const c = await opts.auth?.(redactUrl(url));
        return c ? { username: c.username, password: c.password } : undefined;
      }
    : undefined;
  const onAuthFailure = () => ({ cancel: true });
  const tails = new Map<string, Promise<unknown>>();
  const locked = <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const result = (tails.get(key) ?? Promise.resolve()).then(task, task);
    tails.set(
      key,
      result.catch(() => undefined),
    );
    return result;
  };

  const blobAt = async (entry: WalkerEntry | null | undefined): Promise<Blob | undefined> =>
    entry && (await entry.type()) === 'blob'
      ? { oid: await entry.oid(), mode: (await entry.mode()).toString(8) }
      : undefined;

  /** Writes `tree` with `changes` (path relative to it → blob, or null to delete); undefined when empty. */
  const rewrite = async (
    gitdir: string,
    tree: string | undefined,
    changes: Map<string, Blob | null>,
  ): Promise<string | undefined> => {
    const entries = new Map<string, TreeEntry>(
      tree ? (await git.readTree({ fs, gitdir, oid: tree })).tree.map((e) => [e.path, e]) : [],
    );
    const nested = new Map<string, Map<string, Blob | null>>();
    for (const [file, blob] of changes) {
      const slash = file.indexOf('/');
      if (slash < 0) {
        if (blob)
          entries.set(file, { path: file, oid: blob.oid, mode: blob.mode.padStart(6, '0'), type: 'blob' });
        else entries.delete(file);
      } else {
        const dir = file.slice(0, slash);
        const sub = nested.get(dir) ?? new Map<string, Blob | null>();
        sub.set(file.slice(slash + 1), blob);
        nested.set(dir, sub);
      }
    }
    for (const [dir, sub] of nested) {
      const current = entries.get(dir);
      const oid = await rewrite(gitdir, current?.type === 'tree' ? current.oid : undefined, sub);
      if (oid) entries.set(dir, { path: dir, oid, mode: '040000', type: 'tree' });
      else entries.delete(dir);
    }
    if (entries.size === 0) return undefined;
    return git.writeTree({ fs, gitdir, tree: [...entries.values()] });
  };

  /** One revert, under the repository's lock. */
  const revertIn = async (
    gitdir: string,
    input: Parameters<GitWriter['revertPaths']>[0],
  ): Promise<RevertResult> => {
    const url = input.repoUrl;
    const pushTo = input.pushTo ?? input.branch;
    const exists = await access(path.join(gitdir, 'HEAD')).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await git.init({ fs, gitdir, bare: true, defaultBranch: input.branch });
      await git.addRemote({ fs, gitdir, remote: 'origin', url: redactUrl(url), force: true });
    }
    let head: string;
    try {
      const fetched = await git.fetch({
        fs,
        http,
        gitdir,
        url,
        ref: `refs/remotes/origin/${input.branch}`,
        remoteRef: `refs/heads/${input.branch}`,
        singleBranch: true,
        tags: false,
        onAuth,
        onAuthFailure,
      });
      if (!fetched.fetchHead) throw new NotFoundError(`branch ${input.branch} of ${redactUrl(url)}`);
      head = fetched.fetchHead;
    } catch (error) {
      throw translate(error, url, `fetching ${input.branch} from`);
    }
    for (const oid of [input.revertOf, input.restoreTo]) {
      await git.readCommit({ fs, gitdir, oid }).catch((error: unknown) => {
        throw new NotFoundError(`commit ${oid} on ${input.branch} of ${redactUrl(url)}`, { oid }, error);
      });
    }

    const changes = new Map<string, Blob | null>();
    const conflicts: string[] = [];
    await git.walk({
      fs,
      gitdir,
      trees: [TREE({ ref: input.restoreTo }), TREE({ ref: input.revertOf }), TREE({ ref: head })],
      map: async (file, [good, bad, now]) => {
        if (file === '.') return true;
        const types = await Promise.all([good, bad, now].map((e) => e?.type()));
        if (types.includes('tree')) return leadsTo(file, input.paths) ? true : null;
        if (!under(file, input.paths)) return null;
        const [g, b, n] = await Promise.all([blobAt(good), blobAt(bad), blobAt(now)]);
        if (g?.oid === b?.oid && g?.mode === b?.mode) return null;
        if (n?.oid === g?.oid && n?.mode === g?.mode) return null;
        if (n?.oid !== b?.oid || n?.mode !== b?.mode) conflicts.push(file);
        else changes.set(file, g ?? null);
        return null;
      },
    });
    if (conflicts.length > 0) return { status: 'conflict', paths: conflicts.sort(), head };
    if (changes.size === 0) return { status: 'nothing-to-revert', head };

    const { commit: headCommit } = await git.readCommit({ fs, gitdir, oid: head });
    const tree =
      (await rewrite(gitdir, headCommit.tree, changes)) ?? (await git.writeTree({ fs, gitdir, tree: [] }));
    const now = { ...author, timestamp: Math.floor(Date.now() / 1000), timezoneOffset: 0 };
    const commit = await git.commit({
      fs,
      gitdir,
      message: input.message,
      author: now,
      committer: now,
      tree,
      parent: [head],
      noUpdateBranch: true,
      // A trust policy that names Sluice's key lets the revert deploy (gpgsig, git's ssh format).
      ...(signer
        ? { signingKey: 'sluice', onSign: async ({ payload }) => ({ signature: await signer.sign(payload) }) }
        : {}),
    });
    await git.writeRef({ fs, gitdir, ref: `refs/heads/${pushTo}`, value: commit, force: true });
    try {
      const result = await git.push({
        fs,
        http,
        gitdir,
        url,
        ref: `refs/heads/${pushTo}`,
        remoteRef: `refs/heads/${pushTo}`,
        // Only Sluice's own review branch may be overwritten; the deployed branch never is.
        force: pushTo !== input.branch,
        onAuth,
        onAuthFailure,
      });
      const refResult = result.refs[`refs/heads/${pushTo}`];
      if (!result.ok || (refResult && !refResult.ok)) {
        throw new ConflictError(`branch ${pushTo} of ${redactUrl(url)}`, {
          reason: refResult?.error ?? result.error ?? 'rejected',
        });
      }
    } catch (error) {
      throw translate(error, url, `pushing ${pushTo} to`);
    }
    return { status: 'committed', commit, branch: pushTo };
  };

  return {
    revertPaths(input): Promise<RevertResult> {
      const gitdir = path.join(
        path.resolve(opts.cacheDir),
        'writer',
        createHash('sha256').update(redactUrl(input.repoUrl)).digest('hex'),
      );
      return locked(gitdir, () => revertIn(gitdir, input)).catch((error: unknown) => {
        // isomorphic-git refuses to read a tree holding `.git` or other unsafe names: that is the
        // pushed content, not an outage, so it is a clear, non-retryable failure (Revert Failed).
        if ((error as { code?: string }).code !== 'UnsafeFilepathError') throw error;
        const file = String((error as { data?: { filepath?: string } }).data?.filepath ?? '');
        throw new SluiceError(
          'GIT_FAILED',
          `the commits to revert hold the entry "${printable(file)}", which Sluice refuses to read. Fix: revert the commit by hand`,
          { data: { file } },
        );
      });
    },
  };
};
