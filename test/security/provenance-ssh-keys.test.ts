/**
 * Issue 19: the in-process SSH signature check (sshsig over node:crypto) against signatures that
 * `git commit -S` with `gpg.format=ssh` makes through ssh-keygen, for every key type it supports.
 * The verifier reads the commits from a real repository on disk.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCommitVerifier } from '../../shared/adapters/git/commit-signatures.ts';
import type { LocalGitObjects } from '../../shared/adapters/git/git-source.ts';
import { git, tempDir } from '../support/dev-harness.ts';

const run = promisify(execFile);

const KEYS = [
  ['ed25519', ['-t', 'ed25519']],
  ['rsa', ['-t', 'rsa', '-b', '3072']],
  ['ecdsa-p256', ['-t', 'ecdsa', '-b', '256']],
  ['ecdsa-p384', ['-t', 'ecdsa', '-b', '384']],
  ['ecdsa-p521', ['-t', 'ecdsa', '-b', '521']],
] as const;

describe('SSH commit signatures made by git and ssh-keygen', () => {
  let dir: string;
  let repo: string;
  const objects: LocalGitObjects = {
    withCommits: (_url, _branch, _commits, read) => read({ fs, gitdir: path.join(repo, '.git'), cache: {} }),
  };
  const keys = new Map<string, { file: string; publicKey: string; fingerprint: string }>();

  beforeAll(async () => {
    dir = await tempDir('ssh-keys');
    repo = path.join(dir, 'repo');
    await git(dir, 'init', '--quiet', repo);
    for (const [name, args] of [...KEYS, ['stranger', ['-t', 'ed25519']] as const]) {
      const file = path.join(dir, name);
      await run('ssh-keygen', ['-q', ...args, '-N', '', '-C', name, '-f', file]);
      const fingerprint = (await run('ssh-keygen', ['-lf', `${file}.pub`])).stdout.split(' ')[1] ?? '';
      keys.set(name, { file, publicKey: (await readFile(`${file}.pub`, 'utf8')).trim(), fingerprint });
    }
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const commitSignedBy = async (name: string) => {
    await git(
      repo,
      '-c',
      'gpg.format=ssh',
      '-c',
      `user.signingkey=${keys.get(name)?.file}`,
      'commit',
      '--quiet',
      '--allow-empty',
      '-S',
      '-m',
      `signed by ${name}`,
    );
    return git(repo, 'rev-parse', 'HEAD');
  };
  const verifier = () =>
    createCommitVerifier({
      objects,
      file: 'trust.yaml',
      signers: KEYS.map(([name]) => ({ name, ssh: keys.get(name)?.publicKey })),
    });

  it.each(KEYS.map(([name]) => name))(
    'accepts a %s signature by an enrolled key, with its fingerprint',
    async (name) => {
      // GIVEN a commit git signed with the key WHEN Sluice checks it THEN it is valid, by that signer
      const commit = await commitSignedBy(name);
      expect(await (await verifier()).verify('file://repo', 'main', commit)).toEqual({
        status: 'valid',
        signer: name,
        fingerprint: keys.get(name)?.fingerprint,
      });
    },
  );

  it('names a key no signer holds as an unknown signer', async () => {
    const commit = await commitSignedBy('stranger');
    expect(await (await verifier()).verify('file://repo', 'main', commit)).toEqual({
      status: 'unknown-signer',
      fingerprint: keys.get('stranger')?.fingerprint,
    });
  });

  it.each(['rsa', 'ecdsa-p256'])('refuses a %s signature moved onto another message', async (name) => {
    // GIVEN a signed commit, and the same object with its message changed (signature kept)
    const commit = await commitSignedBy(name);
    const raw = await git(repo, 'cat-file', 'commit', commit);
    const forged = `${raw.replace(`signed by ${name}`, 'signed by nobody')}\n`;
    const child = execFile('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], { cwd: repo });
    child.stdin?.end(forged);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    await new Promise((resolve) => child.once('close', resolve));
    // THEN git says the signature is bad, and so does Sluice, naming the enrolled signer
    const tampered = out.trim();
    expect(
      await git(repo, '-c', `gpg.ssh.allowedSignersFile=/dev/null`, 'log', '-1', '--format=%G?', tampered),
    ).toBe('B');
    expect(await (await verifier()).verify('file://repo', 'main', tampered)).toMatchObject({
      status: 'bad-signature',
      signer: name,
    });
  });

  it('refuses an SSH public key line that does not parse, naming the signer field', async () => {
    await expect(
      createCommitVerifier({
        objects,
        file: 'trust.yaml',
        signers: [{ name: 'x', ssh: 'ssh-ed25519 AAAAnotakey' }],
      }),
    ).rejects.toThrow(/trust\.yaml at signers\[0\]\.ssh: is not a usable SSH public key/);
  });

  it('refuses an OpenPGP block that does not parse, naming the signer field', async () => {
    await expect(
      createCommitVerifier({ objects, file: 'trust.yaml', signers: [{ name: 'x', pgp: 'not a key' }] }),
    ).rejects.toThrow(/trust\.yaml at signers\[0\]\.pgp: is not a readable OpenPGP public key/);
  });
});
