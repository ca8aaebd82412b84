import { BadInputError, NotFoundError } from '../../errors.ts';
import type { Clock, IdempotencyStore, SecretStore, WritableSecretStore } from '../../ports/index.ts';
import { readJson, writeFileAtomic } from './json-file.ts';

export const systemClock: Clock = { now: () => new Date() };

export interface MemoryIdempotencyOptions {
  readonly clock?: Clock;
  /**
   * Most keys remembered at once. Past it the oldest claim is forgotten first (a redelivery of it
   * would be taken as new; every later step is idempotent, so that costs work, not correctness).
   * Bounds the memory a flood of distinct, validly signed delivery ids can take. @default 50_000
   */
  readonly maxEntries?: number;
  /** Longest a claim is remembered, whatever a caller asks for. @default 86_400 (a day) */
  readonly maxTtlSeconds?: number;
}

export const DEFAULT_IDEMPOTENCY_MAX_ENTRIES = 50_000;
export const DEFAULT_IDEMPOTENCY_MAX_TTL_SECONDS = 86_400;

/**
 * Delivery claims in memory (`sluice dev`, the local rollback claims), bounded in entries and in
 * time: when full, expired claims are dropped and then the oldest, down to 90% of `maxEntries`.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  /** key → expiry (ms); insertion order is claim order, so the first key is the oldest claim. */
  private readonly seen = new Map<string, number>();
  private readonly clock: Clock;
  readonly maxEntries: number;
  readonly maxTtlSeconds: number;

  constructor(options: Clock | MemoryIdempotencyOptions = {}) {
    const o: MemoryIdempotencyOptions = 'now' in options ? { clock: options } : options;
    this.clock = o.clock ?? systemClock;
    this.maxEntries = o.maxEntries ?? DEFAULT_IDEMPOTENCY_MAX_ENTRIES;
    this.maxTtlSeconds = o.maxTtlSeconds ?? DEFAULT_IDEMPOTENCY_MAX_TTL_SECONDS;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new BadInputError(
        'maxEntries',
        `${this.maxEntries} is not a positive integer`,
        'pass e.g. 50000',
      );
    }
    if (!(this.maxTtlSeconds > 0)) {
      throw new BadInputError('maxTtlSeconds', `${this.maxTtlSeconds} is not positive`, 'pass e.g. 86400');
    }
  }

  /** How many claims are held now (expired ones included until the next claim sweeps them). */
  get size(): number {
    return this.seen.size;
  }

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    const now = this.clock.now().getTime();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    this.seen.delete(key);
    this.sweep(now);
    this.seen.set(key, now + Math.min(ttlSeconds, this.maxTtlSeconds) * 1000);
    return true;
  }

  async release(key: string): Promise<void> {
    this.seen.delete(key);
  }

  /**
   * Only when full: one pass drops every expired claim and the oldest live ones until a tenth of
   * the room is free, so a claim costs O(1) amortised (a pass per maxEntries/10 claims) rather than
   * a scan per claim.
   */
  private sweep(now: number): void {
    if (this.seen.size < this.maxEntries) return;
    const keep = Math.floor(this.maxEntries * 0.9);
    for (const [key, until] of this.seen) {
      if (until <= now || this.seen.size > keep) this.seen.delete(key);
    }
  }
}

/** Secrets held in memory, keyed by reference (`aws-sm://name#key`) or plain name. */
export class MemorySecretStore implements SecretStore {
  private readonly values: Map<string, string>;

  constructor(values: Record<string, string> = {}) {
    this.values = new Map(Object.entries(values));
  }

  set(ref: string, value: string): void {
    this.values.set(ref, value);
  }

  async get(ref: string): Promise<string> {
    const value = this.values.get(ref);
    if (value === undefined) throw new NotFoundError(`secret ${ref}`, { ref });
    return value;
  }
}

/**
 * Secrets for `sluice dev`, read from a JSON file (`{ "aws-sm://name#key": "value" }`) on every
 * lookup, so an edit takes effect without a restart. The file stays in the workdir, never in Git.
 */
export class FileSecretStore implements WritableSecretStore {
  private readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  async get(ref: string): Promise<string> {
    const values = await readJson<Record<string, unknown>>(this.file, {});
    const value = values[ref];
    if (typeof value !== 'string') {
      throw new NotFoundError(`secret ${ref}`, { ref, fix: `add "${ref}" to ${this.file}` });
    }
    return value;
  }

  /** Replaces every `ref#FIELD` entry with these fields (file mode 0600); other entries stay. */
  async put(ref: string, fields: Readonly<Record<string, string>>): Promise<void> {
    if (ref.includes('#')) {
      throw new BadInputError(
        `secret reference "${ref}"`,
        'names a key, but a write replaces the whole secret',
        `pass ${ref.slice(0, ref.indexOf('#'))}`,
      );
    }
    const values = await readJson<Record<string, unknown>>(this.file, {});
    const kept = Object.entries(values).filter(([name]) => !name.startsWith(`${ref}#`));
    const written = Object.entries(fields).map(([field, value]) => [`${ref}#${field}`, value]);
    const next = Object.fromEntries([...kept, ...written]);
    await writeFileAtomic(this.file, `${JSON.stringify(next, null, 2)}\n`, 0o600);
  }
}
