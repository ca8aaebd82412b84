/**
 * Issue 19: `sluice dev --trust FILE` as a user runs it. A bad or missing trust file stops the
 * command before anything listens, naming the file, the field and the fix; never a silent start
 * without verification.
 */
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/dev-harness.ts';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/sluice.mjs');

const devWithTrust = (workdir: string, trust: string) =>
  run(process.execPath, [
    BIN,
    'dev',
    '--workdir',
    workdir,
    '--port',
    '0',
    '--git-port',
    '0',
    '--trust',
    trust,
  ]).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );

describe('sluice dev --trust FILE', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('trust-cli');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start with a rule naming an unknown signer, naming the field', async () => {
    // GIVEN a trust file whose rule lists "bob", who is not a signer
    const file = path.join(dir, 'trust.yaml');
    await writeFile(
      file,
      'signers:\n  - name: alice\n    ssh: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJyhYKgIZri2TWtynShNVCWYRTmtMXoYN+b+pAgMnboN alice\nrules:\n  - targets: {}\n    signers: [bob]\n',
    );
    // WHEN `sluice dev --trust` starts THEN it exits non-zero with the file, the field and the fix
    const result = await devWithTrust(path.join(dir, 'w1'), file);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      `${file} at rules[0].signers[0]: "bob" is not a signer of this file. Fix:`,
    );
  });

  it('refuses to start with a key that does not parse', async () => {
    const file = path.join(dir, 'bad-key.yaml');
    await writeFile(
      file,
      'signers:\n  - name: alice\n    ssh: ssh-ed25519 AAAA\nrules:\n  - targets: {}\n    signers: [alice]\n',
    );
    const result = await devWithTrust(path.join(dir, 'w2'), file);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${file} at signers[0].ssh: is not a usable SSH public key`);
  });

  it('refuses to start when the file is missing', async () => {
    const result = await devWithTrust(path.join(dir, 'w3'), path.join(dir, 'nowhere.yaml'));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/nowhere\.yaml: cannot be read/);
  });
});
