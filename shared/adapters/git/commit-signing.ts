/**
 * Sluice's own commit-signing key (issue 19, docs/provenance.md): the revert commits that rollback
 * writes are signed with it, in git's `gpg.format=ssh` form (OpenSSH's sshsig, namespace `git`),
 * so a trust policy can name it (`sluice: true`, or its public key line) and the revert deploys.
 * An Ed25519 key, signed with node:crypto; `git verify-commit` accepts the signatures.
 */
import { createHash, createPublicKey, type KeyObject, sign } from 'node:crypto';
import path from 'node:path';
import { workdirEd25519Key } from '../local/bundle-signing.ts';
import { writeFileAtomic } from '../local/json-file.ts';
import { GIT_NAMESPACE, SSHSIG_MAGIC, sshFingerprint, sshString } from './commit-signatures.ts';

export interface CommitSigner {
  /** The OpenSSH public key line (`ssh-ed25519 AAAA… sluice`): what a trust policy enrols. */
  readonly publicKey: string;
  /** `SHA256:…`, as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
  /** An armored SSH signature (`-----BEGIN SSH SIGNATURE-----`) over a commit payload. */
  sign(payload: string): string;
}

const HASH = 'sha512';

/** A signer over an Ed25519 private key. */
export const sshCommitSigner = (privateKey: KeyObject): CommitSigner => {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error('the commit-signing key must be an Ed25519 key');
  const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.from(jwk.x, 'base64url'))]);
  return {
    publicKey: `ssh-ed25519 ${blob.toString('base64')} sluice`,
    fingerprint: sshFingerprint(blob),
    sign(payload) {
      const signed = Buffer.concat([
        SSHSIG_MAGIC,
        sshString(GIT_NAMESPACE),
        sshString(''),
        sshString(HASH),
        sshString(createHash(HASH).update(Buffer.from(payload, 'utf8')).digest()),
      ]);
      const raw = sign(null, signed, privateKey);
      const version = Buffer.alloc(4);
      version.writeUInt32BE(1);
      const body = Buffer.concat([
        SSHSIG_MAGIC,
        version,
        sshString(blob),
        sshString(GIT_NAMESPACE),
        sshString(''),
        sshString(HASH),
        sshString(Buffer.concat([sshString('ssh-ed25519'), sshString(raw)])),
      ]).toString('base64');
      const lines = body.match(/.{1,70}/g) ?? [];
      return `-----BEGIN SSH SIGNATURE-----\n${lines.join('\n')}\n-----END SSH SIGNATURE-----\n`;
    },
  };
};

/**
 * The commit-signing key kept in `dir` (`commit-signing.key`, mode 0600), created on first use;
 * its public key line is written next to it (`commit-signing.pub`) for the operator to enrol.
 */
export const localCommitSigner = async (dir: string): Promise<CommitSigner> => {
  const privateKey = await workdirEd25519Key(path.join(dir, 'commit-signing.key'));
  const signer = sshCommitSigner(privateKey);
  await writeFileAtomic(path.join(dir, 'commit-signing.pub'), `${signer.publicKey}\n`);
  return signer;
};
