/**
 * SOPS-encrypted manifests. A document with top-level `sops:` metadata stays encrypted through
 * render, events and bundles; the agent decrypts it right before apply with keys it reads from the
 * secret store (age identities) or through the KMS port. Implements SOPS's documented file format:
 * each value is `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, sealed with the file's 256-bit data key
 * and the value's key path as additional data; the data key is wrapped once per age recipient or
 * KMS key; `sops.mac` is the SHA-512 of every value in file order, sealed with `lastmodified`.
 */
import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto';
import { armor, Decrypter } from 'age-encryption';
import { isMap, isScalar, isSeq, Lexer, type Node, parseDocument } from 'yaml';
import { isSluiceError, SluiceError } from '../errors.ts';
import type { KmsDecrypter, KubeObject, SecretStore } from '../ports/index.ts';

/** Where the agent reads its age identities (`AGE-SECRET-KEY-1…`, one a line, as in keys.txt) unless told otherwise. */
export const DEFAULT_SOPS_AGE_KEY_REF = 'sluice/sops-age-key';

/** The original document text, kept beside the metadata: the MAC covers values in file order, which the bundle's canonical JSON does not keep. */
export const SOPS_SOURCE_FIELD = 'sluice_source';

const ENC =
  /^ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:([A-Za-z0-9+/=]+),tag:([A-Za-z0-9+/=]+),type:(str|int|float|bool|bytes|comment)\]$/;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonMap = { [key: string]: Json };
const isMapping = (value: unknown): value is JsonMap =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const isEncryptedValue = (value: unknown): value is string =>
  typeof value === 'string' && ENC.test(value);

/** True for a document SOPS wrote: top-level `sops:` metadata with a MAC. */
export const isSopsDocument = (object: unknown): boolean =>
  isMapping(object) && isMapping(object.sops) && typeof object.sops.mac === 'string';

const FIX_REGEX =
  "encrypt only the secret values: `sops --encrypt --encrypted-regex '^(data|stringData)$' --in-place FILE` (or set encrypted_regex in .sops.yaml)";

/**
 * Render's check of a SOPS document (the values are not read): the identity must be plaintext, the
 * keys must be ones the agent can use, and the text must carry no YAML comments (SOPS seals them
 * into the MAC in an order this reader does not reproduce). Returns the reason, or undefined.
 */
export const sopsDocumentProblem = (
  object: Readonly<Record<string, unknown>>,
  text: string,
): { problem: string; fix: string } | undefined => {
  const metadata = isMapping(object.metadata) ? object.metadata : {};
  for (const [field, value] of [
    ['apiVersion', object.apiVersion],
    ['kind', object.kind],
    ['metadata.name', metadata.name],
    ['metadata.namespace', metadata.namespace],
  ] as const) {
    if (isEncryptedValue(value)) {
      return {
        problem: `SOPS document has its ${field} encrypted, so Sluice cannot tell which object it is`,
        fix: FIX_REGEX,
      };
    }
  }
  const sops = (isMapping(object.sops) ? object.sops : {}) as JsonMap;
  const groups = Array.isArray(sops.key_groups) ? sops.key_groups : undefined;
  if (groups && (groups.length > 1 || Number(sops.shamir_threshold ?? 1) > 1)) {
    return {
      problem: 'SOPS document uses Shamir key groups, which the Sluice agent does not combine',
      fix: 'encrypt it for a single key group (age recipients and/or KMS keys), e.g. `sops updatekeys` with one group in .sops.yaml',
    };
  }
  const keys = keyEntries(sops);
  if (keys.age.length === 0 && keys.kms.length === 0) {
    return {
      problem:
        'SOPS document has no age recipient or AWS KMS key (PGP, GCP, Azure and Vault transit keys are not supported by the agent)',
      fix: 'add an age recipient or an AWS KMS key: `sops updatekeys FILE` after listing it in .sops.yaml',
    };
  }
  if (hasComments(text)) {
    return {
      problem:
        'SOPS document carries YAML comments, which SOPS seals into its MAC and the Sluice agent cannot verify',
      fix: 'remove the comments (`sops FILE` to edit), or move them to a README beside it',
    };
  }
  return undefined;
};

const hasComments = (text: string): boolean => {
  for (const token of new Lexer().lex(text)) if (token.startsWith('#')) return true;
  return false;
};

interface AgeEntry {
  recipient: string;
  enc: string;
}
interface KmsEntry {
  arn: string;
  enc: string;
  context: Record<string, string>;
  role?: string;
}

const keyEntries = (sops: JsonMap): { age: AgeEntry[]; kms: KmsEntry[] } => {
  const groups: JsonMap[] = Array.isArray(sops.key_groups) ? sops.key_groups.filter(isMapping) : [sops];
  const age: AgeEntry[] = [];
  const kms: KmsEntry[] = [];
  for (const group of groups) {
    for (const entry of Array.isArray(group.age) ? group.age.filter(isMapping) : []) {
      if (typeof entry.enc === 'string')
        age.push({ recipient: String(entry.recipient ?? ''), enc: entry.enc });
    }
    for (const entry of Array.isArray(group.kms) ? group.kms.filter(isMapping) : []) {
      if (typeof entry.arn !== 'string' || typeof entry.enc !== 'string') continue;
      const context: Record<string, string> = {};
      if (isMapping(entry.context))
        for (const [k, v] of Object.entries(entry.context)) context[k] = String(v);
      kms.push({
        arn: entry.arn,
        enc: entry.enc,
        context,
        ...(typeof entry.role === 'string' && entry.role ? { role: entry.role } : {}),
      });
    }
  }
  return { age, kms };
};

export interface SopsKeys {
  readonly secrets: SecretStore;
  /** Secret reference holding the age identities (default DEFAULT_SOPS_AGE_KEY_REF). */
  readonly ageKeyRef?: string;
  readonly kms?: KmsDecrypter;
}

const failure = (
  file: string,
  object: KubeObject,
  problem: string,
  fix: string,
  cause?: unknown,
  retryable = false,
) =>
  new SluiceError(
    'SOPS_DECRYPT_FAILED',
    `${file}: SOPS-encrypted ${object.kind}/${object.metadata.name}: ${problem}. Fix: ${fix}`,
    {
      data: { file, object: `${object.kind}/${object.metadata.name}` },
      ...(cause === undefined ? {} : { cause }),
      retryable,
    },
  );

const dataKey = async (file: string, object: KubeObject, sops: JsonMap, keys: SopsKeys): Promise<Buffer> => {
  const { age, kms } = keyEntries(sops);
  const tried: string[] = [];
  if (age.length > 0) {
    const ref = keys.ageKeyRef ?? DEFAULT_SOPS_AGE_KEY_REF;
    let identities: string[] = [];
    try {
      identities = (await keys.secrets.get(ref))
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line.startsWith('AGE-SECRET-KEY-'));
    } catch (error) {
      if (isSluiceError(error) && error.retryable) throw error;
      tried.push(`the age identities at ${ref} could not be read`);
    }
    if (identities.length > 0) {
      const decrypter = new Decrypter();
      for (const identity of identities) decrypter.addIdentity(identity);
      for (const entry of age) {
        try {
          const key = await decrypter.decrypt(armor.decode(entry.enc));
          if (key.length === 32) return Buffer.from(key);
        } catch {
          // Not this recipient: try the next one.
        }
      }
      tried.push(
        `no age identity at ${ref} matches the recipients ${age.map((e) => e.recipient).join(', ')}`,
      );
    } else if (tried.length === 0) tried.push(`the secret ${ref} holds no AGE-SECRET-KEY line`);
  }
  for (const entry of kms) {
    if (!keys.kms) {
      tried.push(`the KMS key ${entry.arn} needs KMS access, which this agent is not given`);
      break;
    }
    try {
      const key = await keys.kms.decrypt({
        keyArn: entry.arn,
        ciphertext: Buffer.from(entry.enc, 'base64'),
        context: entry.context,
        ...(entry.role ? { role: entry.role } : {}),
      });
      if (key.length === 32) return Buffer.from(key);
      tried.push(`KMS key ${entry.arn} returned a ${key.length}-byte data key, not 32`);
    } catch (error) {
      if (isSluiceError(error) && error.retryable) throw error;
      tried.push(
        `KMS key ${entry.arn} refused to decrypt the data key (${error instanceof Error ? error.name : 'error'})`,
      );
    }
  }
  throw failure(
    file,
    object,
    `no key could unwrap the data key: ${tried.join('; ')}`,
    `store the age identity (AGE-SECRET-KEY-1…) for one of the file's recipients at ${keys.ageKeyRef ?? DEFAULT_SOPS_AGE_KEY_REF} in the secret store, or give the agent's role kms:Decrypt on one of the file's KMS keys`,
  );
};

class Tampered extends Error {}

/** AES-256-GCM open of one SOPS value; `aad` is the key path joined by ':' plus ':' (or lastmodified for the MAC). */
const open = (value: string, key: Buffer, aad: string): { text: string; type: string } => {
  const m = ENC.exec(value);
  if (!m) throw new Tampered('not an ENC[] value');
  const [, data, iv, tag, type] = m as unknown as [string, string, string, string, string];
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    const text = Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString(
      'utf8',
    );
    return { text, type };
  } catch {
    throw new Tampered(aad);
  }
};

const typed = (text: string, type: string): Json => {
  switch (type) {
    case 'int':
    case 'float':
      return Number(text);
    case 'bool':
      return ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text);
    default:
      return text;
  }
};

/** The bytes SOPS hashes for a plaintext value (Go's strconv formatting). */
const macBytes = (value: unknown): string => {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') {
    return Number.isInteger(value) ? BigInt(value).toString() : String(value);
  }
  return String(value);
};

const aadOf = (path: readonly string[]): string => (path.length === 0 ? '' : `${path.join(':')}:`);

/** SHA-512 over every value of the original text in file order, as SOPS computes its MAC. */
const computeMac = (text: string, key: Buffer, onlyEncrypted: boolean): string => {
  const doc = parseDocument(text, { schema: 'core', uniqueKeys: true });
  const hash = createHash('sha512');
  const walk = (node: Node | null, path: string[], top: boolean): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (top && key === 'sops') continue;
        walk(pair.value as Node | null, [...path, key], false);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item as Node | null, path, false);
    } else if (isScalar(node) || node === null) {
      const value = node === null ? null : node.value;
      if (isEncryptedValue(value)) hash.update(open(value, key, aadOf(path)).text, 'utf8');
      else if (!onlyEncrypted) hash.update(macBytes(value), 'utf8');
    }
  };
  walk(doc.contents as Node | null, [], true);
  return hash.digest('hex').toUpperCase();
};

const decryptTree = (value: Json, path: string[], key: Buffer): Json => {
  if (Array.isArray(value)) return value.map((item) => decryptTree(item, path, key));
  if (isMapping(value)) {
    const out: JsonMap = {};
    for (const [k, v] of Object.entries(value)) out[k] = decryptTree(v, [...path, k], key);
    return out;
  }
  if (isEncryptedValue(value)) {
    const { text, type } = open(value, key, aadOf(path));
    return typed(text, type);
  }
  return value;
};

/**
 * Decrypts the SOPS documents among a bundle's objects (others pass through untouched): unwraps the
 * data key, checks the MAC over the document as it is in Git, opens every value, and drops the
 * `sops` metadata. A wrong key or a tampered value is SOPS_DECRYPT_FAILED naming the file; no
 * plaintext is ever part of an error.
 */
export const decryptSopsObjects = async (
  entries: readonly { file: string; object: KubeObject }[],
  keys: SopsKeys,
): Promise<KubeObject[]> => {
  const out: KubeObject[] = [];
  for (const { file, object } of entries) {
    if (!isSopsDocument(object)) {
      out.push(object);
      continue;
    }
    const { sops, ...rest } = object as KubeObject & { sops: JsonMap };
    const text = sops[SOPS_SOURCE_FIELD];
    if (typeof text !== 'string') {
      throw failure(
        file,
        object,
        'the bundle lacks the document text SOPS sealed',
        're-render the app with this Sluice version',
      );
    }
    const key = await dataKey(file, object, sops, keys);
    try {
      const lastModified =
        typeof sops.lastmodified === 'string' ? sops.lastmodified : String(sops.lastmodified);
      const mac = open(String(sops.mac), key, lastModified).text;
      const computed = computeMac(text, key, sops.mac_only_encrypted === true);
      const a = Buffer.from(mac.toUpperCase());
      const b = Buffer.from(computed);
      if (a.length !== b.length || !timingSafeEqual(a, b)) throw new Tampered('mac');
      out.push(decryptTree(rest as unknown as Json, [], key) as unknown as KubeObject);
    } catch (error) {
      if (!(error instanceof Tampered)) throw error;
      throw failure(
        file,
        object,
        'the file was changed after it was encrypted (its MAC or a value does not verify)',
        `edit it only through sops (\`sops ${file}\`), or re-encrypt it from the plaintext, and push again`,
      );
    }
  }
  return out;
};

/**
 * What checks that read values may see of a SOPS document: the object without its `sops` metadata
 * and without the encrypted values (they are checked by nobody until the agent decrypts them).
 * `encrypted` counts what was left out, for an "encrypted, not checked" note.
 */
export const sopsSkeleton = (object: KubeObject): { object: KubeObject; encrypted: number } => {
  let encrypted = 0;
  const strip = (value: Json): Json | undefined => {
    if (isEncryptedValue(value)) {
      encrypted++;
      return undefined;
    }
    if (Array.isArray(value)) return value.map(strip).filter((v): v is Json => v !== undefined);
    if (isMapping(value)) {
      const out: JsonMap = {};
      for (const [k, v] of Object.entries(value)) {
        const kept = strip(v);
        if (kept !== undefined) out[k] = kept;
      }
      return out;
    }
    return value;
  };
  const { sops: _metadata, ...rest } = object as KubeObject & { sops?: unknown };
  return { object: strip(rest as unknown as Json) as unknown as KubeObject, encrypted };
};
