import { NotFoundError } from '../../errors.ts';
import type { Clock, IdempotencyStore, SecretStore } from '../../ports/index.ts';

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
