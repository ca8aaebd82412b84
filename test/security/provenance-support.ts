/**
 * Real signing keys and a `sluice dev --trust` for the provenance tests (issue 19): an OpenPGP key
 * made by gpg in a throwaway GNUPGHOME, SSH keys made by ssh-keygen, commits signed by `git
 * commit -S` with them, pushed to the real git server of `sluice dev`.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { type DevServer, startDev } from '../../cli/commands/dev.ts';
import type { Envelope } from '../../shared/schemas/events.ts';
import { EXAMPLE_FLEET, tempDir, waitFor } from '../support/dev-harness.ts';

const run = promisify(execFile);

export interface SigningKeys {
  readonly dir: string;
  readonly gnupgHome: string;
  /** The release bot's OpenPGP key: fingerprint and armored public key. */
  readonly pgp: { readonly fingerprint: string; readonly publicKey: string };
  /** SSH keys: the private key file (git's user.signingkey) and the public key line. */
  readonly ssh: Record<'alice' | 'mallory', { readonly file: string; readonly publicKey: string }>;
}

export const makeKeys = async (): Promise<SigningKeys> => {
  const dir = await tempDir('keys');
  const gnupgHome = path.join(dir, 'gnupg');
  await mkdir(gnupgHome, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupgHome };
  await run(
    'gpg',
    [
      '--batch',
      '--passphrase',
      '',
      '--quick-gen-key',
      'Release Bot <bot@example.com>',
      'ed25519',
      'sign',
      'never',
    ],
    {
      env,
    },
  );
  const colons = (await run('gpg', ['--batch', '--with-colons', '--list-keys'], { env })).stdout;
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1] ?? '';
  const publicKey = (await run('gpg', ['--batch', '--armor', '--export', fingerprint], { env })).stdout;
  const ssh = {} as Record<'alice' | 'mallory', { file: string; publicKey: string }>;
  for (const who of ['alice', 'mallory'] as const) {
    const file = path.join(dir, who);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${who}@example.com`, '-f', file]);
    ssh[who] = { file, publicKey: (await readFile(`${file}.pub`, 'utf8')).trim() };
  }
  return { dir, gnupgHome, pgp: { fingerprint, publicKey }, ssh };
};

export const dropKeys = async (keys: SigningKeys | undefined): Promise<void> => {
  if (!keys) return;
  // The gpg-agent this GNUPGHOME started, and only it.
  await run('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: keys.gnupgHome } }).catch(
    () => undefined,
  );
  await rm(keys.dir, { recursive: true, force: true });
};

/** The trust file of issue 19: release-bot (OpenPGP) alone for prod, alice (SSH) too elsewhere. */
export const trustYaml = (keys: SigningKeys, mode: 'head' | 'every-commit'): string =>
  [
    'signers:',
    '  - name: alice',
    `    ssh: ${keys.ssh.alice.publicKey}`,
    '  - name: release-bot',
    '    pgp: |',
    ...keys.pgp.publicKey
      .trim()
      .split('\n')
      .map((line) => `      ${line}`),
    'rules:',
    '  - targets: { matchLabels: { env: prod } }',
    '    signers: [release-bot]',
    '  - targets: {}',
    '    signers: [alice, release-bot]',
    `mode: ${mode}`,
    '',
  ].join('\n');

export type Signature = 'release-bot' | 'alice' | 'mallory' | 'none';

export interface TrustedDev {
  readonly dev: DevServer;
  readonly workdir: string;
  readonly clone: string;
  /** Git in the clone, with an identity and the keys' GNUPGHOME. */
  git(...args: string[]): Promise<string>;
  /** Changes the metrics-agent (every target) in the clone and commits it, signed as asked. */
  commit(signature: Signature, n: number): Promise<string>;
  /** Pushes the clone's HEAD (or `ref`) to main; waits until the push is planned and the pipeline idle. */
  push(ref?: string): Promise<string>;
  events(type: string, commit?: string): Envelope[];
  stop(): Promise<void>;
}

const DAEMONSET = 'apps/metrics-agent/daemonset.yaml';

/** `sluice dev --trust FILE` in this process; the unsigned seed commit is refused before it returns. */
export const startTrustedDev = async (
  keys: SigningKeys,
  mode: 'head' | 'every-commit',
  policy = trustYaml(keys, mode),
): Promise<TrustedDev> => {
  const workdir = await tempDir('trust');
  const trustFile = path.join(workdir, 'trust.yaml');
  await writeFile(trustFile, policy);
  const dev = await startDev(
    {
      workdir: path.join(workdir, 'dev'),
      port: 0,
      gitPort: 0,
      webhookSecret: 'test-webhook-secret',
      seed: EXAMPLE_FLEET,
      coalesceMs: 100,
      quiet: true,
      trust: trustFile,
    },
    () => undefined,
  );
  const events = (type: string, commit?: string) =>
    dev.pipeline.bus.events.filter(
      (e) =>
        e['detail-type'] === type &&
        (commit === undefined || (e.detail as { commit?: string }).commit === commit),
    );
  const env = { ...process.env, GNUPGHOME: keys.gnupgHome };
  const clone = path.join(workdir, 'clone');
  const git = async (...args: string[]) =>
    (
      await run('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], {
        cwd: clone,
        env,
        maxBuffer: 16 * 1024 * 1024,
      })
    ).stdout.trim();
  const planned = (commit: string) =>
    ['Release Planned', 'Release Skipped', 'Release Rejected'].some(
      (type) => events(type, commit).length > 0,
    );
  await mkdir(clone);
  await git('clone', '--quiet', dev.gitUrl, '.');
  const seed = await git('rev-parse', 'HEAD');
  await waitFor('the seed commit to be planned', () => (planned(seed) ? true : undefined));
  await dev.pipeline.idle();

  return {
    dev,
    workdir,
    clone,
    git,
    async commit(signature, n) {
      const file = path.join(clone, DAEMONSET);
      const text = await readFile(file, 'utf8');
      await writeFile(file, text.replace(/memory: \d+Mi \}\n(\s+limits)/, `memory: ${60 + n}Mi }\n$1`));
      await git('add', '-A');
      const sign =
        signature === 'none'
          ? []
          : signature === 'release-bot'
            ? ['-c', 'gpg.format=openpgp', '-c', `user.signingkey=${keys.pgp.fingerprint}`]
            : ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${keys.ssh[signature].file}`];
      await git(
        ...sign,
        'commit',
        '--quiet',
        ...(signature === 'none' ? [] : ['-S']),
        '-m',
        `metrics-agent rev ${n}`,
      );
      return git('rev-parse', 'HEAD');
    },
    async push(ref = 'HEAD') {
      const commit = await git('rev-parse', ref);
      await git('push', '--quiet', 'origin', `${commit}:refs/heads/main`);
      await waitFor(`commit ${commit.slice(0, 7)} to be planned`, () => (planned(commit) ? true : undefined));
      await dev.pipeline.idle();
      return commit;
    },
    events,
    async stop() {
      await dev.stop();
      await rm(workdir, { recursive: true, force: true });
    },
  };
};

/** Keys and a `sluice dev --trust` for one describe block, started before its tests and stopped after. */
export const useTrustedDev = (mode: 'head' | 'every-commit'): { keys: SigningKeys; t: TrustedDev } => {
  const ctx = {} as { keys: SigningKeys; t: TrustedDev };
  beforeAll(async () => {
    ctx.keys = await makeKeys();
    ctx.t = await startTrustedDev(ctx.keys, mode);
  }, 120_000);
  afterAll(async () => {
    await ctx.t?.stop();
    await dropKeys(ctx.keys);
  });
  return ctx;
};
