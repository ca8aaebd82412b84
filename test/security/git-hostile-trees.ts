/**
 * Builds commits that `git add` would never make, straight into a bare repository with real git:
 * blobs with `git hash-object -w`, trees written as raw tree objects with
 * `git hash-object -t tree --literally` (so duplicates, `.git` spellings, odd modes and names with
 * separators are kept byte for byte), commits with `git commit-tree`. The repository is then
 * served by the project's own smart-HTTP git server like any other.
 */
import { execFile } from 'node:child_process';

export type HostileNode =
  | { readonly file: string | Uint8Array; readonly mode?: string }
  | { readonly link: string }
  | { readonly gitlink: string }
  | { readonly dir: HostileEntries; readonly mode?: string };

/** Entries in the stored order; a name may repeat (duplicates are the point). */
export type HostileEntries = readonly (readonly [string, HostileNode])[];

const gitIn = (gitDir: string, args: readonly string[], input?: Uint8Array | string): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      ['-c', 'user.name=Attacker', '-c', 'user.email=attacker@example.com', '--git-dir', gitDir, ...args],
      { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout) => (error ? reject(error) : resolve(stdout.trim())),
    );
    // A command that reads no input may exit before it is written: that is not a failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });

const blobs = new Map<string, Promise<string>>();

/** Writes a blob once per repository and content (big hostile trees repeat contents). */
const writeBlob = (gitDir: string, content: string | Uint8Array): Promise<string> => {
  const key = `${gitDir}\0${typeof content === 'string' ? content : Buffer.from(content).toString('base64')}`;
  let oid = blobs.get(key);
  if (oid === undefined) {
    oid = gitIn(gitDir, ['hash-object', '-w', '--stdin'], content);
    blobs.set(key, oid);
  }
  return oid;
};

/** Writes the tree (and everything in it) and returns its oid. */
export const writeTree = async (gitDir: string, entries: HostileEntries): Promise<string> => {
  const parts: Buffer[] = [];
  for (const [name, node] of entries) {
    let mode: string;
    let oid: string;
    if ('file' in node) {
      mode = node.mode ?? '100644';
      oid = await writeBlob(gitDir, node.file);
    } else if ('link' in node) {
      mode = '120000';
      oid = await writeBlob(gitDir, node.link);
    } else if ('gitlink' in node) {
      mode = '160000';
      oid = node.gitlink;
    } else {
      mode = node.mode ?? '40000';
      oid = await writeTree(gitDir, node.dir);
    }
    parts.push(
      Buffer.from(`${mode} `, 'latin1'),
      Buffer.from(name, 'utf8'),
      Buffer.from([0]),
      Buffer.from(oid, 'hex'),
    );
  }
  return gitIn(gitDir, ['hash-object', '-t', 'tree', '-w', '--literally', '--stdin'], Buffer.concat(parts));
};

/** A commit of `entries` on top of `branch` of the bare repository, made its new head. */
export const commitTree = async (
  gitDir: string,
  entries: HostileEntries,
  message: string,
  branch = 'main',
): Promise<string> => {
  const tree = await writeTree(gitDir, entries);
  const parent = await gitIn(gitDir, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]).catch(
    () => '',
  );
  const commit = await gitIn(gitDir, ['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message]);
  await gitIn(gitDir, ['update-ref', `refs/heads/${branch}`, commit]);
  return commit;
};

const rawTree = (entries: readonly { mode: string; name: string; oid: string }[]): Buffer =>
  Buffer.concat(
    entries.flatMap((e) => [
      Buffer.from(`${e.mode} `, 'latin1'),
      Buffer.from(e.name, 'utf8'),
      Buffer.from([0]),
      Buffer.from(e.oid, 'hex'),
    ]),
  );

/**
 * The tree `tree` with `entries` added to the directory `dir` (created when missing): a real
 * commit's content plus a hostile part, e.g. a `.git` directory inside one app.
 */
export const graftTree = async (
  gitDir: string,
  tree: string,
  dir: string,
  entries: HostileEntries,
): Promise<string> => {
  const listing = tree === '' ? '' : await gitIn(gitDir, ['ls-tree', '-z', tree]);
  const existing = listing
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta = '', name = ''] = line.split('\t');
      const [mode = '', , oid = ''] = meta.split(' ');
      return { mode: mode === '040000' ? '40000' : mode, name, oid };
    });
  const [head, ...rest] = dir.split('/').filter(Boolean);
  let out: { mode: string; name: string; oid: string }[];
  if (head === undefined) {
    // The new entries, byte-exact from the tree object just written (duplicates kept).
    const extra = await readRawTree(gitDir, await writeTree(gitDir, entries));
    out = [...existing, ...extra];
  } else {
    const child = existing.find((e) => e.name === head && e.mode === '40000');
    const grafted = await graftTree(gitDir, child?.oid ?? '', rest.join('/'), entries);
    out = [...existing.filter((e) => e !== child), { mode: '40000', name: head, oid: grafted }];
  }
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return gitIn(gitDir, ['hash-object', '-t', 'tree', '-w', '--literally', '--stdin'], rawTree(out));
};

const readRawTree = async (gitDir: string, tree: string) => {
  const bytes: Buffer = await new Promise((resolve, reject) =>
    execFile(
      'git',
      ['--git-dir', gitDir, 'cat-file', 'tree', tree],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    ),
  );
  const out: { mode: string; name: string; oid: string }[] = [];
  let at = 0;
  while (at < bytes.length) {
    const space = bytes.indexOf(0x20, at);
    const nul = bytes.indexOf(0, space);
    out.push({
      mode: bytes.subarray(at, space).toString('latin1'),
      name: bytes.subarray(space + 1, nul).toString('utf8'),
      oid: bytes.subarray(nul + 1, nul + 21).toString('hex'),
    });
    at = nul + 21;
  }
  return out;
};

/** A commit of the tree `tree` on top of `parent`, not moving any ref. */
export const commitOf = (gitDir: string, tree: string, parent: string, message: string): Promise<string> =>
  gitIn(gitDir, ['commit-tree', tree, '-p', parent, '-m', message]);

export { gitIn };
