/**
 * A short-lived cache of promises, for adapters that fetch secrets or credentials: one fetch per
 * key per TTL, shared by concurrent callers; a failed fetch is dropped so the next call asks again.
 */
export interface TtlCacheOptions {
  /** How long a fetched value is reused. */
  readonly ttlMs: number;
  /** Milliseconds since the epoch; injectable so tests can move time. @default Date.now */
  readonly now?: () => number;
}

export class TtlCache<V> {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { readonly fetchedAt: number; readonly value: Promise<V> }>();

  constructor(options: TtlCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /** The cached value of `key`, or what `load` returns (then cached for the TTL). */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const now = this.#now();
    const cached = this.#entries.get(key);
    if (cached && now - cached.fetchedAt < this.#ttlMs) return cached.value;
    const value = load();
    this.#entries.set(key, { fetchedAt: now, value });
    value.catch(() => {
      if (this.#entries.get(key)?.value === value) this.#entries.delete(key);
    });
    return value;
  }

  /** Forgets `key`, e.g. after this process wrote a new value. */
  delete(key: string): void {
    this.#entries.delete(key);
  }
}
