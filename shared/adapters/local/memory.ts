import { BadInputError, NotFoundError } from '../../errors.ts';
import type { Clock, IdempotencyStore, SecretStore, WritableSecretStore } from '../../ports/index.ts';
import { readJson, writeFileAtomic } from './json-file.ts';

export const systemClock: Clock = { now: () => new Date() };

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly seen = new Map<string, number>();
  private readonly clock: Clock;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    const now = this.clock.now().getTime();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    this.seen.set(key, now + ttlSeconds * 1000);
    return true;
  }

  async release(key: string): Promise<void> {
    this.seen.delete(key);
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
