/**
 * A real git smart-HTTP server for local runs and tests: Node `http` in front of
 * `git http-backend` (CGI). It reports every ref a push changed, like a provider webhook would.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { BadInputError } from '../../errors.ts';
import { keyedLock } from '../keyed-lock.ts';
import { isLoopbackHost } from './control-server.ts';

const run = promisify(execFile);

export const ZERO_SHA = '0'.repeat(40);

export interface PushUpdate {
  /** Repository path under the root, without `.git` (`fleet` for `<root>/fleet.git`). */
  readonly repo: string;
  readonly ref: string;
  /** 40 zeros when the ref was created. */
  readonly before: string;
  /** 40 zeros when the ref was deleted. */
  readonly after: string;
}

export interface GitServerOptions {
  /** Directory holding the bare repositories (`<root>/<name>.git`). */
  readonly root: string;
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
  /** Called once per changed ref, in ref order, after the push's HTTP response has finished. */
  readonly onPush?: (update: PushUpdate) => void | Promise<void>;
  /** Sees every request as it arrives (tests assert what was, or was never, fetched). */
  readonly onRequest?: (request: { readonly method: string; readonly url: string }) => void;
}

export interface GitServer {
  /** `http://127.0.0.1:PORT`; a repository is at `${url}/fleet.git`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface InitBareRepoOptions {
  /** @default 'main' */
  readonly branch?: string;
  /** `Name <email>` of the seed commit. @default 'Sluice <sluice@localhost>' */
  readonly author?: string;
}

/** Runs git with an identity, so it works on a machine where none is configured. */
const git = async (
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; identity?: { name: string; email: string } } = {},
): Promise<string> => {
  const identity = options.identity ?? { name: 'Sluice', email: 'sluice@localhost' };
  const { stdout } = await run(
    'git',
    ['-c', `user.name=${identity.name}`, '-c', `user.email=${identity.email}`, ...args],
    { cwd: options.cwd, env: { ...process.env, ...options.env }, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
};

const exists = (file: string): Promise<boolean> =>
  access(file).then(
    () => true,
    () => false,
  );

const parseAuthor = (author: string | undefined): { name: string; email: string } => {
  if (author === undefined) return { name: 'Sluice', email: 'sluice@localhost' };
  const match = /^\s*(.*?)\s*<([^>]*)>\s*$/.exec(author);
  if (!match) {
    throw new BadInputError(
      `author "${author}"`,
      'is not in "Name <email>" form',
      'pass e.g. "Ada <ada@example.com>"',
    );
  }
  return { name: match[1] || 'Sluice', email: match[2] ?? 'sluice@localhost' };
};

const checkRepoName = (name: string): void => {
  const parts = name.split('/');
  if (
    name === '' ||
    parts.some((part) => part === '' || part === '.' || part === '..') ||
    name.startsWith('/')
  ) {
    throw new BadInputError(
      `repository name "${name}"`,
      'must be a relative path without empty, "." or ".." segments',
      'use a name such as "fleet" or "org/fleet"',
    );
  }
};

/**
 * Creates `<root>/<name>.git` (bare, default branch main, pushes allowed) unless it exists. With
 * `seedDir`, a new repository gets the directory's files as its first commit. The repository is
 * built under a temporary name and renamed into place, so a crash never leaves half a repository.
 */
export const initBareRepo = async (
  root: string,
  name: string,
  seedDir?: string,
  opts: InitBareRepoOptions = {},
): Promise<string> => {
  checkRepoName(name.replace(/\.git$/, ''));
  const branch = opts.branch ?? 'main';
  const identity = parseAuthor(opts.author);
  const target = path.resolve(root, `${name.replace(/\.git$/, '')}.git`);
  if (await exists(target)) return target;

  await mkdir(path.dirname(target), { recursive: true });
  const temp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.tmp-${randomBytes(6).toString('hex')}`,
  );
  try {
    await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, temp]);
    await git(['config', 'http.receivepack', 'true'], { cwd: temp });
    if (seedDir !== undefined) {
      // A private index lets the seed directory serve as the work tree without being touched.
      const env = {
        GIT_DIR: temp,
        GIT_WORK_TREE: path.resolve(seedDir),
        GIT_INDEX_FILE: `${temp}/seed-index`,
      };
      await git(['add', '--all', '.'], { cwd: path.resolve(seedDir), env });
      const tree = (await git(['write-tree'], { cwd: path.resolve(seedDir), env })).trim();
      const commit = (
        await git(['commit-tree', tree, '-m', `Seed ${name} from ${path.basename(path.resolve(seedDir))}`], {
          cwd: temp,
          env: {
            GIT_DIR: temp,
            GIT_AUTHOR_NAME: identity.name,
            GIT_AUTHOR_EMAIL: identity.email,
            GIT_COMMITTER_NAME: identity.name,
            GIT_COMMITTER_EMAIL: identity.email,
          },
          identity,
        })
      ).trim();
      await git(['update-ref', `refs/heads/${branch}`, commit], { cwd: temp, env: { GIT_DIR: temp } });
      await rm(`${temp}/seed-index`, { force: true });
    }
    try {
      await rename(temp, target);
    } catch (error) {
      // Another caller created it first: theirs stands.
      if (!(await exists(target))) throw error;
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return target;
};

/** `refname → sha` for every ref of a bare repository. */
const snapshotRefs = async (gitDir: string): Promise<Map<string, string>> => {
  const out = await git(['for-each-ref', '--format=%(objectname) %(refname)'], {
    cwd: gitDir,
    env: { GIT_DIR: gitDir },
  });
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
  }
  return refs;
};

const diffRefs = (repo: string, before: Map<string, string>, after: Map<string, string>): PushUpdate[] => {
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  return names
    .map((ref) => ({ repo, ref, before: before.get(ref) ?? ZERO_SHA, after: after.get(ref) ?? ZERO_SHA }))
    .filter((update) => update.before !== update.after);
};

const REPO_PATH = /^\/((?:[^/]+\/)*?[^/]+\.git)(\/.*)?$/;

interface CgiResponse {
  status: number;
  headers: Record<string, string | string[]>;
}

const parseCgiHeaders = (block: string): CgiResponse => {
  const headers: Record<string, string | string[]> = {};
  let status = 200;
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      status = Number.parseInt(value, 10) || 500;
    } else {
      const existing = headers[name];
      headers[name] =
        existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    }
  }
  return { status, headers };
};

const remoteUser = (authorization: string | undefined): string | undefined => {
  if (!authorization?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(0, colon) : decoded;
};

/** Runs `git http-backend` for one request; resolves once the response has finished. */
const serveCgi = (
  root: string,
  pathInfo: string,
  query: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> =>
  new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      // Pushes work even for a repository created without `http.receivepack true`.
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.receivepack',
      GIT_CONFIG_VALUE_0: 'true',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      SERVER_SOFTWARE: 'sluice-git-server',
      PATH_INFO: pathInfo,
      REQUEST_METHOD: req.method ?? 'GET',
      QUERY_STRING: query,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    };
    const user = remoteUser(req.headers.authorization);
    if (user) env.REMOTE_USER = user;
    if (req.headers['content-type']) env.CONTENT_TYPE = req.headers['content-type'];
    if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
    if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
    const protocol = req.headers['git-protocol'];
    if (typeof protocol === 'string') {
      // Protocol v2 is negotiated through this header; http-backend reads it from GIT_PROTOCOL.
      env.GIT_PROTOCOL = protocol;
      env.HTTP_GIT_PROTOCOL = protocol;
    }

    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let settled = false;
    const finish = (): void => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    res.on('close', finish);

    const fail = (message: string): void => {
      process.stderr.write(`[git-server] ${req.method} ${pathInfo}: ${message}\n`);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`git http-backend failed: ${message}\n`);
      } else {
        res.destroy();
      }
    };

    child.on('error', (error) => fail(error.message));
    child.stdin.on('error', () => {
      // The backend may exit before reading the whole body (e.g. a 404); its answer still stands.
    });
    req.pipe(child.stdin);
    child.stderr.on('data', (chunk: Buffer) =>
      process.stderr.write(`[git-server] ${chunk.toString('utf8')}`),
    );

    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        if (!res.write(chunk)) {
          child.stdout.pause();
          res.once('drain', () => child.stdout.resume());
        }
        return;
      }
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
      if (end < 0) return;
      headersDone = true;
      const sep = end === crlf ? 4 : 2;
      const { status, headers } = parseCgiHeaders(head.subarray(0, end).toString('latin1'));
      res.writeHead(status, headers);
      const rest = head.subarray(end + sep);
      if (rest.length > 0) res.write(rest);
    });
    child.on('close', (code) => {
      if (!headersDone) {
        fail(`exited with code ${code} before sending headers`);
        return;
      }
      res.end();
    });
  });

/**
 * Starts a smart-HTTP git server on 127.0.0.1 serving the bare repositories under `root`; a
 * request whose Host is not a loopback name is answered 421 (DNS rebinding).
 * Pushes to one repository are serialised so that the ref snapshots around each are exact.
 */
export const startGitServer = async (opts: GitServerOptions): Promise<GitServer> => {
  const root = path.resolve(opts.root);
  const receiveLock = keyedLock();
  const notifyQueue = keyedLock();

  const notify = (updates: PushUpdate[], repo: string): void => {
    const onPush = opts.onPush;
    if (!onPush || updates.length === 0) return;
    // A separate queue keeps callbacks in push order without holding the push lock, so a
    // callback may itself push to the same repository (a rollback's revert commit).
    void notifyQueue(repo, async () => {
      for (const update of updates) {
        try {
          await onPush(update);
        } catch (error) {
          const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
          process.stderr.write(`[git-server] onPush failed for ${update.repo} ${update.ref}: ${message}\n`);
        }
      }
    });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    opts.onRequest?.({ method: req.method ?? '', url: req.url ?? '' });
    // Loopback is reachable from a web page by DNS rebinding: only loopback Host names are served.
    if (!isLoopbackHost(req.headers.host, (server.address() as AddressInfo).port)) {
      res.writeHead(421, { 'content-type': 'text/plain' });
      res.end('this git server answers 127.0.0.1, localhost and [::1] only\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const pathInfo = decodeURIComponent(url.pathname);
    const match = REPO_PATH.exec(pathInfo);
    if (!match || pathInfo.split('/').some((part) => part === '..' || part === '.')) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not a repository path; use /<name>.git/...\n');
      return;
    }
    const repoPath = match[1]!;
    const query = url.search.replace(/^\?/, '');
    if (req.method !== 'POST' || match[2] !== '/git-receive-pack') {
      await serveCgi(root, pathInfo, query, req, res);
      return;
    }
    const repo = repoPath.replace(/\.git$/, '');
    const gitDir = path.join(root, repoPath);
    await receiveLock(repo, async () => {
      const before = (await exists(gitDir)) ? await snapshotRefs(gitDir) : new Map<string, string>();
      await serveCgi(root, pathInfo, query, req, res);
      const after = (await exists(gitDir)) ? await snapshotRefs(gitDir) : new Map<string, string>();
      notify(diffRefs(repo, before, after), repo);
    });
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      process.stderr.write(`[git-server] ${req.method} ${req.url}: ${String(error)}\n`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
};
