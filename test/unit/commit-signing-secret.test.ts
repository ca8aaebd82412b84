import { describe, expect, it } from 'vitest';
import { secretCommitSigner, seededCommitSigner } from '../../shared/adapters/git/commit-signing.ts';
import { MemorySecretStore } from '../../shared/adapters/local/memory.ts';

const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:CommitSigningKey-AbCdEf';
const SEED = 'k7Qm2xVb9TzR4hWc8NpL3sJf6YdG1aEu5oKi0nXyBvCtUrZqMwHjFlDgSeAo9PbN';

describe("Sluice's commit-signing key from a secret's seed", () => {
  it('derives one key per seed, so every rollback function and the CLI print the same public key', () => {
    const a = seededCommitSigner(SEED, SECRET);
    expect(seededCommitSigner(SEED, SECRET).publicKey).toBe(a.publicKey);
    expect(a.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ sluice$/);
    expect(seededCommitSigner(`${SEED}x`, SECRET).publicKey).not.toBe(a.publicKey);
  });

  it('refuses a short seed naming the secret and the fix, without echoing the value', () => {
    const signer = () => seededCommitSigner('short-seed-value', SECRET);
    expect(signer).toThrow(`secret ${SECRET} at seed: holds 16 characters, fewer than the 32`);
    expect(signer).toThrow(/Fix: store \{"seed"/);
    expect(signer).not.toThrow(/short-seed-value/);
  });

  it('fails the signature, not the start, when the secret is missing; reads it once it exists', async () => {
    const secrets = new MemorySecretStore();
    const signer = secretCommitSigner({ secrets, secret: SECRET });
    await expect(signer.sign('tree 0\n')).rejects.toThrow(
      `secret ${SECRET} at seed: does not exist or has no seed, so the revert cannot be signed with Sluice's key. Fix: deploy the management stack`,
    );
    secrets.set(`aws-sm://${SECRET}#seed`, SEED);
    expect(await signer.sign('tree 0\n')).toMatch(/^-----BEGIN SSH SIGNATURE-----\n/);
    expect((await signer.load()).publicKey).toBe(seededCommitSigner(SEED, SECRET).publicKey);
  });
});
