/**
 * SOPS files for tests. `sopsBinary()` is the real sops CLI built by scripts/sops/build.sh (from the
 * Go module proxy) when present: the best evidence that Sluice reads what sops writes.
 * `encryptSops()` is an encoder of our own for the same documented format, used where a test must
 * shape a file sops would not write (or where the binary is absent).
 */
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { armor, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { stringify } from 'yaml';

const run = promisify(execFile);

export const ageKeyPair = async (): Promise<{ identity: string; recipient: string }> => {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
};

/** The sops binary cached by scripts/sops/build.sh, or undefined. */
export const sopsBinary = (): string | undefined => {
  const path = resolve(import.meta.dirname, '../../.cache/sops/bin/sops');
  return existsSync(path) ? path : undefined;
};

/** Encrypts YAML text with the real sops for an age recipient, only data/stringData encrypted. */
export const sopsEncrypt = async (binary: string, yamlText: string, recipient: string): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-sops-'));
  try {
    const file = join(dir, 'secret.yaml');
    await writeFile(file, yamlText);
    const { stdout } = await run(
      binary,
      ['--encrypt', '--age', recipient, '--encrypted-regex', '^(data|stringData)$', file],
      { env: { PATH: process.env.PATH ?? '', HOME: dir }, cwd: dir },
    );
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** Decrypts with the real sops (to check a file our encoder wrote). */
export const sopsDecrypt = async (binary: string, yamlText: string, identity: string): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-sops-'));
  try {
    const file = join(dir, 'secret.yaml');
    await writeFile(file, yamlText);
    const { stdout } = await run(binary, ['--decrypt', file], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, SOPS_AGE_KEY: identity },
      cwd: dir,
    });
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

const seal = (plaintext: string, key: Buffer, aad: string, type: string): string => {
  if (plaintext === '') return '';
  const iv = randomBytes(32);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${cipher.getAuthTag().toString('base64')},type:${type}]`;
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Our own SOPS encoder: values under a key matching `encryptedRegex` are sealed, the MAC covers all
 * values in order. `dataKey`/`kms` let a test wrap the key with KMS instead of (or beside) age.
 */
export const encryptSops = async (
  document: { [key: string]: Json },
  options: {
    recipients?: readonly string[];
    kms?: readonly { arn: string; enc: string; context?: Record<string, string> }[];
    dataKey?: Buffer;
    encryptedRegex?: RegExp;
  },
): Promise<string> => {
  const key = options.dataKey ?? randomBytes(32);
  const regex = options.encryptedRegex ?? /^(data|stringData)$/;
  const hash = createHash('sha512');
  const walk = (value: Json, path: string[], encrypt: boolean): Json => {
    if (Array.isArray(value)) return value.map((v) => walk(v, path, encrypt));
    if (value !== null && typeof value === 'object') {
      const out: { [key: string]: Json } = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, [...path, k], encrypt || regex.test(k));
      return out;
    }
    const text = value === null ? '' : String(value);
    hash.update(text);
    if (!encrypt || value === null) return value;
    const type =
      typeof value === 'number'
        ? Number.isInteger(value)
          ? 'int'
          : 'float'
        : typeof value === 'boolean'
          ? 'bool'
          : 'str';
    return seal(text, key, `${path.join(':')}:`, type);
  };
  const body = walk(document, [], false) as { [key: string]: Json };
  const lastmodified = '2026-12-06T15:00:00Z';
  const age = [];
  for (const recipient of options.recipients ?? []) {
    const encrypter = new Encrypter();
    encrypter.addRecipient(recipient);
    age.push({ recipient, enc: armor.encode(await encrypter.encrypt(key)) });
  }
  const sops: { [key: string]: Json } = {
    ...(options.kms
      ? { kms: options.kms.map((k) => ({ ...k, created_at: lastmodified, aws_profile: '' })) }
      : {}),
    ...(age.length ? { age } : {}),
    lastmodified,
    mac: seal(hash.digest('hex').toUpperCase(), key, lastmodified, 'str'),
    encrypted_regex: regex.source,
    version: '3.13.3',
  };
  // sops reads lastmodified as a string only when quoted, as it writes it.
  return stringify({ ...body, sops }).replace(
    `lastmodified: ${lastmodified}`,
    `lastmodified: "${lastmodified}"`,
  );
};
