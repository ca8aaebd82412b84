/**
 * One SecretStore over several, chosen by the reference's scheme (`aws-sm://` → Secrets Manager,
 * `vault://` → Vault), so an agent resolves every reference a manifest may hold.
 */
import { BadInputError } from '../errors.ts';
import type { SecretStore, WritableSecretStore } from '../ports/index.ts';

export interface RoutingSecretStoreOptions {
  /** Store by scheme, without `://`: `{ 'aws-sm': sm, vault: vault }`. */
  readonly schemes: Readonly<Record<string, SecretStore | WritableSecretStore>>;
  /** For references without a scheme (plain names). Absent: they are refused. */
  readonly plain?: SecretStore | WritableSecretStore;
}

export class RoutingSecretStore implements WritableSecretStore {
  readonly #options: RoutingSecretStoreOptions;

  constructor(options: RoutingSecretStoreOptions) {
    this.#options = options;
  }

  async get(ref: string): Promise<string> {
    return this.#route(ref).get(ref);
  }

  async put(ref: string, fields: Readonly<Record<string, string>>): Promise<void> {
    const store = this.#route(ref);
    if (!('put' in store) || typeof store.put !== 'function') {
      throw new BadInputError(
        `secret reference "${ref}"`,
        'belongs to a store Sluice can only read',
        `store it in a writable store (${this.#writable().join(', ') || 'none configured'})`,
        { ref },
      );
    }
    await store.put(ref, fields);
  }

  #route(ref: string): SecretStore | WritableSecretStore {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(ref)?.[1]?.toLowerCase();
    const store = scheme === undefined ? this.#options.plain : this.#options.schemes[scheme];
    if (store) return store;
    const known = Object.keys(this.#options.schemes).map((s) => `${s}://`);
    throw new BadInputError(
      `secret reference "${ref}"`,
      scheme === undefined ? 'has no scheme' : `uses scheme ${scheme}://, for which no store is configured`,
      `use one of ${known.join(', ') || '(none configured)'}${scheme === 'vault' ? ', or set VAULT_ADDR and VAULT_TOKEN' : ''}`,
      { ref },
    );
  }

  #writable(): string[] {
    return Object.entries(this.#options.schemes)
      .filter(([, store]) => 'put' in store)
      .map(([scheme]) => `${scheme}://`);
  }
}
