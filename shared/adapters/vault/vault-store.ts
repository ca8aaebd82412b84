/**
 * HashiCorp Vault KV version 2 behind the SecretStore port.
 *
 * Reference grammar (also in docs/providers/registration.md):
 *
 *   vault://<mount>/<path>[?version=<n>][#<key>]
 *
 * - The first segment is the KV v2 mount, the rest the secret's path inside it:
 *   `vault://secret/team/db#password` reads key `password` of `GET /v1/secret/data/team/db`.
 * - A single segment is a path in the default mount (`secret` unless configured):
 *   `vault://db#password` is `vault://secret/db#password`.
 * - The path is the logical one, without KV v2's `data/` (as `vault kv get -mount=secret team/db`).
 * - `?version=<n>` pins a version; without it the latest is read.
 * - Without `#<key>` the whole secret comes back as a JSON object.
 *
 * Values are cached briefly (one read per secret per TTL, shared with concurrent callers) and
 * never appear in a message, an error or a log line; errors name the reference instead.
 */
import { BadInputError, ConflictError, NotFoundError, SluiceError, UnavailableError } from '../../errors.ts';
import type { WritableSecretStore } from '../../ports/index.ts';
import { requestJson } from '../http-json.ts';
import { TtlCache } from '../ttl-cache.ts';

export const VAULT_SCHEME = 'vault://';

export interface VaultRef {
  readonly mount: string;
  /** Inside the mount, `/`-separated, without `data/`. */
  readonly path: string;
  readonly version?: number;
  readonly key?: string;
}

export interface VaultStoreOptions {
  /** e.g. `https://vault.example.com:8200` (VAULT_ADDR). */
  readonly address: string;
  /** Sent as X-Vault-Token (VAULT_TOKEN). Never logged. */
  readonly token: string;
  /** Vault Enterprise / HCP namespace, sent as X-Vault-Namespace (VAULT_NAMESPACE). */
  readonly namespace?: string;
  /** The mount a single-segment reference reads from. @default secret */
  readonly defaultMount?: string;
  /** How long a read secret is reused; a rotation shows up within this time. @default 60_000 */
  readonly ttlMs?: number;
  /** Milliseconds since the epoch; injectable so tests can move time. @default Date.now */
  readonly now?: () => number;
}

const GRAMMAR = 'write vault://<mount>/<path>#<key> (e.g. vault://secret/team/db#password)';

/** Parses a `vault://` reference; throws BAD_INPUT naming the reference and the grammar. */
export const parseVaultRef = (ref: string, defaultMount = 'secret'): VaultRef => {
  const bad = (problem: string) => new BadInputError(`secret reference "${ref}"`, problem, GRAMMAR, { ref });
  if (!ref.startsWith(VAULT_SCHEME)) throw bad('is not a vault:// reference');
  let rest = ref.slice(VAULT_SCHEME.length);
  let key: string | undefined;
  const hash = rest.indexOf('#');
  if (hash !== -1) {
    key = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
    if (key === '') throw bad('has an empty key after "#"');
  }
  let version: number | undefined;
  const query = rest.indexOf('?');
  if (query !== -1) {
    const match = /^version=([1-9][0-9]{0,9})$/.exec(rest.slice(query + 1));
    if (!match) throw bad('has a query other than ?version=<positive number>');
    version = Number(match[1]);
    rest = rest.slice(0, query);
  }
  const segments = rest.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw bad('has an empty, "." or ".." path segment');
  }
  const [first, ...others] = segments as [string, ...string[]];
  const [mount, path] = others.length === 0 ? [defaultMount, first] : [first, others.join('/')];
  return {
    mount,
    path,
    ...(version === undefined ? {} : { version }),
    ...(key === undefined ? {} : { key }),
  };
};

const vaultErrors = (body: unknown): string | undefined => {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(errors) && errors.length > 0 ? errors.map(String).join('; ').slice(0, 200) : undefined;
};

type SecretData = Readonly<Record<string, unknown>>;

export class VaultSecretStore implements WritableSecretStore {
  readonly #address: string;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #defaultMount: string;
  readonly #cache: TtlCache<SecretData>;

  constructor(options: VaultStoreOptions) {
    this.#address = options.address.replace(/\/+$/, '');
    this.#headers = {
      'x-vault-token': options.token,
      ...(options.namespace ? { 'x-vault-namespace': options.namespace } : {}),
    };
    this.#defaultMount = options.defaultMount ?? 'secret';
    this.#cache = new TtlCache({
      ttlMs: options.ttlMs ?? 60_000,
      ...(options.now ? { now: options.now } : {}),
    });
  }

  async get(ref: string): Promise<string> {
    const parsed = parseVaultRef(ref, this.#defaultMount);
    const where = `${parsed.mount}/${parsed.path}`;
    const data = await this.#cache.get(`${where}@${parsed.version ?? 'latest'}`, () =>
      this.#read(ref, parsed),
    );
    if (parsed.key === undefined) return JSON.stringify(data);
    const value = data[parsed.key];
    if (value === undefined || value === null) {
      throw new NotFoundError(`key "${parsed.key}" of Vault secret ${where}`, { ref, key: parsed.key });
    }
    if (typeof value === 'object') {
      throw new BadInputError(
        `key "${parsed.key}" of Vault secret ${where}`,
        'holds an object or array, not a string',
        'store a string (or number/boolean) under that key',
        { ref },
      );
    }
    return String(value);
  }

  /** Writes a new version holding exactly `fields` (the port's write; see `write` for check-and-set). */
  async put(ref: string, fields: Readonly<Record<string, string>>): Promise<void> {
    await this.write(ref, fields);
  }

  /**
   * Writes a new version holding exactly `fields` (`POST /v1/<mount>/data/<path>`) and returns its
   * number. With `cas`, Vault writes only when the current version equals it (0: only if the
   * secret does not exist yet); otherwise CONFLICT.
   */
  async write(
    ref: string,
    fields: Readonly<Record<string, string>>,
    options: { readonly cas?: number } = {},
  ): Promise<{ version: number | undefined }> {
    const parsed = parseVaultRef(ref, this.#defaultMount);
    if (parsed.key !== undefined || parsed.version !== undefined) {
      throw new BadInputError(
        `secret reference "${ref}"`,
        'names a key or version, but a write replaces the whole secret',
        'pass the reference without #key and ?version',
        { ref },
      );
    }
    const answer = await this.#request('write', ref, parsed, 'POST', {
      data: fields,
      ...(options.cas === undefined ? {} : { options: { cas: options.cas } }),
    });
    this.#cache.delete(`${parsed.mount}/${parsed.path}@latest`);
    const version = (answer as { data?: { version?: unknown } } | undefined)?.data?.version;
    return { version: typeof version === 'number' ? version : undefined };
  }

  async #read(ref: string, parsed: VaultRef): Promise<SecretData> {
    const body = await this.#request('read', ref, parsed, 'GET');
    const data = (body as { data?: { data?: unknown } } | undefined)?.data?.data;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      // KV v2 answers a deleted or destroyed version with data: null.
      throw new NotFoundError(`Vault secret "${ref}" (deleted or destroyed version)`, { ref });
    }
    return data as SecretData;
  }

  async #request(
    verb: 'read' | 'write',
    ref: string,
    parsed: VaultRef,
    method: 'GET' | 'POST',
    body?: unknown,
  ): Promise<unknown> {
    const path = `/v1/${[parsed.mount, 'data', ...parsed.path.split('/')].map(encodeURIComponent).join('/')}`;
    const query = parsed.version === undefined ? '' : `?version=${parsed.version}`;
    const what = `Vault secret "${ref}"`;
    const data = { ref, mount: parsed.mount, path: parsed.path };
    const answer = await requestJson(what, `${this.#address}${path}${query}`, {
      method,
      headers: this.#headers,
      ...(body === undefined ? {} : { body }),
    });
    const detail = vaultErrors(answer.body);
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    if (answer.status === 404) {
      throw new NotFoundError(what, {
        ...data,
        status: 404,
        fix: `check that mount "${parsed.mount}" is a KV v2 engine and holds "${parsed.path}" (the path without data/)`,
      });
    }
    if (answer.status === 403 || answer.status === 401) {
      throw new SluiceError(
        'PERMISSION_DENIED',
        `Vault refused to ${verb} ${what} with HTTP ${answer.status}${detail ? ` (${detail})` : ''}. Fix: check that VAULT_TOKEN is valid and unexpired${this.#headers['x-vault-namespace'] ? ' in that namespace' : ''}, and that its policy grants "${verb === 'read' ? 'read' : 'create", "update'}" on ${parsed.mount}/data/${parsed.path}`,
        { data: { ...data, status: answer.status } },
      );
    }
    if (answer.status === 400 && detail?.includes('check-and-set')) {
      throw new ConflictError(what, { ...data, status: 400 });
    }
    if (answer.status === 429 || answer.status === 412 || answer.status >= 500) {
      throw new UnavailableError(what, new Error(`HTTP ${answer.status}${detail ? ` (${detail})` : ''}`), {
        ...data,
        status: answer.status,
      });
    }
    throw new SluiceError(
      'VAULT_REJECTED',
      `Vault refused to ${verb} ${what} with HTTP ${answer.status}${detail ? ` (${detail})` : ''}. Fix: check the reference (${GRAMMAR})`,
      { data: { ...data, status: answer.status } },
    );
  }
}
