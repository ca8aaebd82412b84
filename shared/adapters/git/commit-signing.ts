/**
 * Sluice's own commit-signing key (issue 19, docs/provenance.md): the revert commits that rollback
 * writes are signed with it, in git's `gpg.format=ssh` form (OpenSSH's sshsig, namespace `git`),
 * so a trust policy can name it (`sluice: true`, or its public key line) and the revert deploys.
 * An Ed25519 key, signed with node:crypto; `git verify-commit` accepts the signatures.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import path from 'node:path';
import { ConfigError, isSluiceError } from '../../errors.ts';
import type { SecretStore, WritableSecretStore } from '../../ports/index.ts';
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

/** The management stack's secret holding the key's seed (its ARN: SLUICE_COMMIT_SIGNING_KEY). */
export const COMMIT_SIGNING_SECRET = 'sluice/commit-signing-key';
/** The secret's one field: at least this many characters of randomness (the stack makes 64). */
const SEED_FIELD = 'seed';
const MIN_SEED = 32;
/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The Ed25519 key a secret's seed stands for: SHA-256 of the seed (domain-separated) is the
 * private key. The secret holds random text, so CloudFormation can generate it and no key
 * material is ever in Git or a template.
 */
export const seededCommitSigner = (seed: string, secret: string): CommitSigner => {
  if (seed.length < MIN_SEED) {
    throw new ConfigError(
      `secret ${secret}`,
      SEED_FIELD,
      `holds ${seed.length} characters, fewer than the ${MIN_SEED} a signing key needs`,
      `store {"${SEED_FIELD}": "<at least ${MIN_SEED} random characters>"} (the management stack generates 64)`,
    );
  }
  const digest = createHash('sha256').update(`sluice commit-signing key v1\0${seed}`).digest();
  return sshCommitSigner(
    createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, digest]), format: 'der', type: 'pkcs8' }),
  );
};

export interface SecretCommitSigner {
  /** Reads the secret (once; a failure is retried on the next call) and returns the signer. */
  load(): Promise<CommitSigner>;
  sign(payload: string): Promise<string>;
}

/**
 * Sluice's commit-signing key from the secret store (the deployed rollback function; `sluice dev
 * --aws`). With `create` (and a writable store), a missing secret is generated and stored on first
 * use, then read back, so concurrent first users end up with the one value stored.
 */
export const secretCommitSigner = (options: {
  readonly secrets: SecretStore | WritableSecretStore;
  /** The secret's name or ARN. */
  readonly secret: string;
  readonly create?: boolean;
}): SecretCommitSigner => {
  const ref = `aws-sm://${options.secret}#${SEED_FIELD}`;
  const read = async (): Promise<CommitSigner> => {
    try {
      return seededCommitSigner(await options.secrets.get(ref), options.secret);
    } catch (error) {
      const missing = isSluiceError(error) && error.code === 'NOT_FOUND';
      if (!missing || !options.create || !('put' in options.secrets)) {
        if (!missing) throw error;
        throw new ConfigError(
          `secret ${options.secret}`,
          SEED_FIELD,
          "does not exist or has no seed, so the revert cannot be signed with Sluice's key",
          `deploy the management stack (it creates the secret), or store {"${SEED_FIELD}": "<64 random characters>"} in it`,
          error,
        );
      }
      await options.secrets.put(`aws-sm://${options.secret}`, {
        [SEED_FIELD]: randomBytes(48).toString('base64url'),
      });
      return seededCommitSigner(await options.secrets.get(ref), options.secret);
    }
  };
  let loading: Promise<CommitSigner> | undefined;
  const load = () => {
    loading ??= read().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
  return { load, sign: async (payload) => (await load()).sign(payload) };
};
