/**
 * CommitVerifier: reads a commit's signature from the cached repository and checks it against
 * the trust policy's signers (docs/provenance.md), in process — the commit and its signature are
 * attacker-controlled, so no gpg or ssh-keygen subprocess ever sees them.
 *
 * - OpenPGP (`-----BEGIN PGP SIGNATURE-----`): openpgp.js, a detached signature over the payload.
 * - SSH (`-----BEGIN SSH SIGNATURE-----`, git's `gpg.format=ssh`): the sshsig format of OpenSSH's
 *   PROTOCOL.sshsig, namespace `git`, checked with node:crypto (Ed25519, RSA, ECDSA P-256/384/521).
 *
 * The signed payload is cut from the raw commit object (git's own rule: the commit without its
 * `gpgsig` header and continuation lines), not from isomorphic-git's `readCommit` payload, which
 * normalises line ends: two commits that differ only there must not share a signature.
 */
import { createHash, createPublicKey, type KeyObject, verify as verifySignature } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import git from 'isomorphic-git';
import * as openpgp from 'openpgp';
import { parseTrustPolicy, type TrustDeps } from '../../core/provenance.ts';
import { ConfigError } from '../../errors.ts';
import type { CommitSignature, CommitVerifier } from '../../ports/index.ts';
import type { TrustPolicy, TrustSigner } from '../../schemas/trust.ts';
import type { LocalGitObjects } from './git-source.ts';

/** What a trust policy's signer becomes once its key is parsed. */
type ParsedSigner =
  | { readonly name: string; readonly kind: 'ssh'; readonly fingerprint: string; readonly blob: Buffer }
  | {
      readonly name: string;
      readonly kind: 'pgp';
      readonly fingerprint: string;
      readonly key: openpgp.PublicKey;
    };

/** A cursor over SSH wire-format data (RFC 4251 `string`, `uint32`). */
class SshReader {
  private at = 0;
  private readonly data: Buffer;
  constructor(data: Buffer) {
    this.data = data;
  }
  uint32(): number {
    if (this.at + 4 > this.data.length) throw new Error('truncated');
    const value = this.data.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }
  string(): Buffer {
    const length = this.uint32();
    if (this.at + length > this.data.length) throw new Error('truncated');
    const value = this.data.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }
  bytes(n: number): Buffer {
    if (this.at + n > this.data.length) throw new Error('truncated');
    const value = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return value;
  }
  get done(): boolean {
    return this.at === this.data.length;
  }
}

export const sshString = (value: Buffer | string): Buffer => {
  const data = typeof value === 'string' ? Buffer.from(value) : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, data]);
};

/** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it. */
export const sshFingerprint = (blob: Buffer): string =>
  `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

const base64url = (b: Buffer) => b.toString('base64url');
/** An mpint without the sign byte. */
const unsigned = (b: Buffer) => (b.length > 1 && b[0] === 0 ? b.subarray(1) : b);

const CURVES: Record<string, { crv: string; hash: string; size: number }> = {
  nistp256: { crv: 'P-256', hash: 'sha256', size: 32 },
  nistp384: { crv: 'P-384', hash: 'sha384', size: 48 },
  nistp521: { crv: 'P-521', hash: 'sha512', size: 66 },
};

/** A node:crypto key from an SSH public key blob, and what verifies with it. */
const sshPublicKey = (blob: Buffer): { type: string; key: KeyObject } => {
  const r = new SshReader(blob);
  const type = r.string().toString();
  if (type === 'ssh-ed25519') {
    const x = r.string();
    return {
      type,
      key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url(x) }, format: 'jwk' }),
    };
  }
  if (type === 'ssh-rsa') {
    const e = unsigned(r.string());
    const n = unsigned(r.string());
    return {
      type,
      key: createPublicKey({ key: { kty: 'RSA', e: base64url(e), n: base64url(n) }, format: 'jwk' }),
    };
  }
  const curve = CURVES[r.string().toString()];
  if (type.startsWith('ecdsa-sha2-') && curve) {
    const q = r.string();
    if (q[0] !== 4 || q.length !== 1 + 2 * curve.size) throw new Error('unsupported EC point encoding');
    const x = q.subarray(1, 1 + curve.size);
    const y = q.subarray(1 + curve.size);
    return {
      type,
      key: createPublicKey({
        key: { kty: 'EC', crv: curve.crv, x: base64url(x), y: base64url(y) },
        format: 'jwk',
      }),
    };
  }
  throw new Error(`unsupported SSH key type ${type}`);
};

/** Checks the inner signature blob (`string format, string sig`) over `data` with `blob`'s key. */
const sshVerify = (blob: Buffer, data: Buffer, signature: Buffer): boolean => {
  const { type, key } = sshPublicKey(blob);
  const r = new SshReader(signature);
  const format = r.string().toString();
  const raw = r.string();
  if (type === 'ssh-ed25519') return format === 'ssh-ed25519' && verifySignature(null, data, key, raw);
  if (type === 'ssh-rsa') {
    const hash = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512' }[format];
    // `ssh-rsa` (SHA-1) signatures are refused, as OpenSSH refuses them.
    return hash !== undefined && verifySignature(hash, data, key, raw);
  }
  const curve = CURVES[type.replace('ecdsa-sha2-', '')];
  if (!curve || format !== type) return false;
  const rs = new SshReader(raw);
  const pad = (b: Buffer) => {
    const v = unsigned(b);
    if (v.length > curve.size) throw new Error('EC signature component too long');
    return Buffer.concat([Buffer.alloc(curve.size - v.length), v]);
  };
  const p1363 = Buffer.concat([pad(rs.string()), pad(rs.string())]);
  return verifySignature(curve.hash, data, { key, dsaEncoding: 'ieee-p1363' }, p1363);
};

/** An OpenSSH public key line (`type base64 [comment]`) → its blob. */
const parseSshPublicKey = (line: string, where: string, file: string): Buffer => {
  const [type, data] = line.trim().split(/\s+/);
  const blob = data ? Buffer.from(data, 'base64') : Buffer.alloc(0);
  try {
    const parsed = sshPublicKey(blob);
    if (parsed.type !== type) throw new Error(`the key says ${parsed.type}, the line ${type}`);
    return blob;
  } catch (error) {
    throw new ConfigError(
      file,
      where,
      `is not a usable SSH public key (${error instanceof Error ? error.message : String(error)})`,
      'paste one line of the signer\'s .pub file: "ssh-ed25519 AAAA… name" (ed25519, rsa or ecdsa)',
      error,
    );
  }
};

export const SSHSIG_MAGIC = Buffer.from('SSHSIG');
export const GIT_NAMESPACE = 'git';

/** Splits a raw commit object into the payload git signs and the `gpgsig` header value. */
export const splitSignedCommit = (raw: Buffer): { payload: Buffer; signature?: string } => {
  const text = raw.toString('latin1');
  const end = text.indexOf('\n\n');
  const headerEnd = end === -1 ? text.length : end + 1;
  const lines = text.slice(0, headerEnd).split(/(?<=\n)/);
  const kept: string[] = [];
  let signature: string[] | undefined;
  let inSignature = false;
  for (const line of lines) {
    if (inSignature && line.startsWith(' ')) {
      signature?.push(line.slice(1));
      continue;
    }
    inSignature = false;
    // gpgsig (SHA-1 object format); one signature only: a second header is kept as content.
    if (line.startsWith('gpgsig ') && signature === undefined) {
      signature = [line.slice('gpgsig '.length)];
      inSignature = true;
      continue;
    }
    kept.push(line);
  }
  const payload = Buffer.from(kept.join('') + text.slice(headerEnd), 'latin1');
  return signature === undefined ? { payload } : { payload, signature: signature.join('') };
};

type GitRepo = Parameters<Parameters<LocalGitObjects['withCommits']>[3]>[0];

export interface CommitVerifierOptions {
  readonly objects: LocalGitObjects;
  readonly signers: readonly TrustSigner[];
  /** The trust file, for error messages. */
  readonly file: string;
  /** Sluice's own commit-signing public key line: what a `sluice: true` signer stands for. */
  readonly ownKey?: string;
}

/** Parses every signer's key (errors name `signers[i].ssh|pgp`) and returns the verifier. */
export const createCommitVerifier = async (opts: CommitVerifierOptions): Promise<CommitVerifier> => {
  const signers: ParsedSigner[] = [];
  for (const [i, signer] of opts.signers.entries()) {
    if (signer.sluice && opts.ownKey === undefined) {
      throw new ConfigError(
        opts.file,
        `signers[${i}].sluice`,
        "names Sluice's own commit-signing key, which this pipeline does not hold",
        'give the signer the "ssh:" line of the key Sluice signs reverts with (deployed: `sluice trust sluice-key --aws` prints it), or remove it',
      );
    }
    const ssh = signer.sluice ? opts.ownKey : signer.ssh;
    if (ssh !== undefined) {
      const blob = parseSshPublicKey(ssh, `signers[${i}].${signer.sluice ? 'sluice' : 'ssh'}`, opts.file);
      signers.push({ name: signer.name, kind: 'ssh', blob, fingerprint: sshFingerprint(blob) });
    } else if (signer.pgp !== undefined) {
      try {
        const key = await openpgp.readKey({ armoredKey: signer.pgp });
        signers.push({
          name: signer.name,
          kind: 'pgp',
          key,
          fingerprint: key.getFingerprint().toUpperCase(),
        });
      } catch (error) {
        throw new ConfigError(
          opts.file,
          `signers[${i}].pgp`,
          `is not a readable OpenPGP public key (${error instanceof Error ? error.message : String(error)})`,
          'paste the output of `gpg --armor --export KEYID`, from -----BEGIN PGP PUBLIC KEY BLOCK----- to its END line',
          error,
        );
      }
    }
  }

  const verifySsh = (armored: string, payload: Buffer): CommitSignature => {
    const body = armored
      .replace(/-----BEGIN SSH SIGNATURE-----/, '')
      .replace(/-----END SSH SIGNATURE-----[\s\S]*$/, '')
      .replace(/\s+/g, '');
    let blob: Buffer;
    let namespace: string;
    let hashAlgorithm: string;
    let signature: Buffer;
    let reserved: Buffer;
    try {
      const r = new SshReader(Buffer.from(body, 'base64'));
      if (!r.bytes(6).equals(SSHSIG_MAGIC) || r.uint32() !== 1) throw new Error('not an SSHSIG v1 blob');
      blob = r.string();
      namespace = r.string().toString();
      reserved = r.string();
      hashAlgorithm = r.string().toString();
      signature = r.string();
    } catch {
      return { status: 'bad-signature', fingerprint: 'unreadable SSH signature' };
    }
    const fingerprint = sshFingerprint(blob);
    const signer = signers.find((s) => s.kind === 'ssh' && s.blob.equals(blob));
    if (!signer) return { status: 'unknown-signer', fingerprint };
    const bad = { status: 'bad-signature' as const, fingerprint, signer: signer.name };
    if (namespace !== GIT_NAMESPACE || (hashAlgorithm !== 'sha256' && hashAlgorithm !== 'sha512')) return bad;
    const signed = Buffer.concat([
      SSHSIG_MAGIC,
      sshString(namespace),
      sshString(reserved),
      sshString(hashAlgorithm),
      sshString(createHash(hashAlgorithm).update(payload).digest()),
    ]);
    try {
      return sshVerify(blob, signed, signature) ? { status: 'valid', fingerprint, signer: signer.name } : bad;
    } catch {
      return bad;
    }
  };

  const verifyPgp = async (armored: string, payload: Buffer): Promise<CommitSignature> => {
    let signature: openpgp.Signature;
    try {
      signature = await openpgp.readSignature({ armoredSignature: armored });
    } catch {
      return { status: 'bad-signature', fingerprint: 'unreadable OpenPGP signature' };
    }
    const packet = signature.packets[0];
    const issuerFingerprint = packet?.issuerFingerprint
      ? Buffer.from(packet.issuerFingerprint).toString('hex').toUpperCase()
      : undefined;
    const keyIds = signature.getSigningKeyIDs().map((id) => id.toHex().toUpperCase());
    const signer = signers.find(
      (s): s is Extract<ParsedSigner, { kind: 'pgp' }> =>
        s.kind === 'pgp' && s.key.getKeyIDs().some((id) => keyIds.includes(id.toHex().toUpperCase())),
    );
    if (!signer)
      return { status: 'unknown-signer', fingerprint: issuerFingerprint ?? keyIds[0] ?? 'unknown key' };
    const bad = { status: 'bad-signature' as const, fingerprint: signer.fingerprint, signer: signer.name };
    try {
      const message = await openpgp.createMessage({ binary: new Uint8Array(payload) });
      const result = await openpgp.verify({
        message,
        signature,
        verificationKeys: signer.key,
        expectSigned: true,
      });
      await result.signatures[0]?.verified;
      return { status: 'valid', fingerprint: signer.fingerprint, signer: signer.name };
    } catch {
      return bad;
    }
  };

  return {
    async verify(repoUrl, branch, commit) {
      const raw = await opts.objects.withCommits(repoUrl, branch, [commit], async (repo) => {
        const { type, object } = await git.readObject({ ...repo, oid: commit, format: 'content' });
        return type === 'commit' ? Buffer.from(object as Uint8Array) : undefined;
      });
      if (raw === undefined) return { status: 'unsigned' };
      const { payload, signature } = splitSignedCommit(raw);
      if (signature === undefined) return { status: 'unsigned' };
      if (signature.startsWith('-----BEGIN SSH SIGNATURE-----')) return verifySsh(signature, payload);
      if (signature.startsWith('-----BEGIN PGP SIGNATURE-----')) return verifyPgp(signature, payload);
      return { status: 'bad-signature', fingerprint: 'unsupported signature format' };
    },

    async commitsSince(repoUrl, branch, from, to, limit) {
      const walk = async (repo: GitRepo) => {
        const found: { commit: string; parent: string | null }[] = [];
        // First-parent walk, as the branch moved; a merge's side commits arrive through the merge.
        let at: string | undefined = to;
        while (at !== undefined && at !== from && found.length < limit) {
          let parents: string[];
          try {
            parents = (await git.readCommit({ ...repo, oid: at })).commit.parent;
          } catch {
            break; // the shallow boundary: older history is not fetched
          }
          found.push({ commit: at, parent: parents[0] ?? null });
          at = parents[0];
        }
        return found;
      };
      // Fetch back to `from` when the branch still reaches it; else (force push) what is there.
      const range =
        (from === null ? undefined : await opts.objects.withCommits(repoUrl, branch, [to, from], walk)) ??
        (await opts.objects.withCommits(repoUrl, branch, [to], walk));
      return range ?? [{ commit: to, parent: null }];
    },
  };
};

/**
 * Reads a trust policy file (`sluice dev --trust FILE`, the deployment config's `trust`) and builds
 * what plan enforces. A missing or bad file fails at start-up, naming the file and the field.
 */
export const loadTrustPolicy = async (
  file: string,
  objects: LocalGitObjects,
  text?: string,
  ownKey?: string,
): Promise<TrustDeps> => {
  let content = text;
  if (content === undefined) {
    try {
      content = await readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError(
        file,
        '',
        'cannot be read',
        'pass the path of an existing trust policy file (docs/provenance.md)',
        error,
      );
    }
  }
  return trustFromPolicy(parseTrustPolicy(content, file), objects, file, ownKey);
};

/** What plan enforces, from a policy already read (the deployed plan's SLUICE_TRUST_POLICY). */
export const trustFromPolicy = async (
  policy: TrustPolicy,
  objects: LocalGitObjects,
  file: string,
  ownKey?: string,
): Promise<TrustDeps> => ({
  policy,
  verifier: await createCommitVerifier({
    objects,
    signers: policy.signers,
    file,
    ...(ownKey === undefined ? {} : { ownKey }),
  }),
});
