/**
 * A token bucket per key (provider + repository): `burst` deliveries at once, refilled at
 * `perMinute`. In memory, so each ingest instance limits on its own — a bound on what one sender
 * can make the pipeline do, not an exact global quota. Pure apart from its own state; the clock is
 * injected.
 */
import type { Clock } from '../../ports/index.ts';

export interface RateLimiter {
  /** Takes one token for `key`; when none is left, says how long until one is. */
  take(key: string): { allowed: true } | { allowed: false; retryAfterSeconds: number };
}

export interface TokenBucketOptions {
  /** Tokens a bucket holds, i.e. the largest burst. @default 60 */
  readonly burst?: number;
  /** Tokens added per minute. @default 120 */
  readonly perMinute?: number;
  /** Buckets kept; the least recently used is dropped beyond it (a dropped bucket starts full). @default 10_000 */
  readonly maxKeys?: number;
  readonly clock: Clock;
}

export class TokenBucketLimiter implements RateLimiter {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #maxKeys: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: TokenBucketOptions) {
    this.#burst = options.burst ?? 60;
    this.#perMs = (options.perMinute ?? 120) / 60_000;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#clock = options.clock;
    if (!(this.#burst >= 1) || !(this.#perMs > 0)) {
      throw new RangeError(
        `rate limit needs burst >= 1 and perMinute > 0, got ${this.#burst} and ${options.perMinute}`,
      );
    }
  }

  take(key: string): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const now = this.#clock.now().getTime();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.at) * this.#perMs);
    bucket.at = now;
    // Re-insert so the map's order is least-recently-used first.
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000)),
    };
  }
}
