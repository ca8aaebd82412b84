/**
 * What ingest, dispatch and rollback rely on from every IdempotencyStore: a key is claimed once
 * until its TTL passes, a release gives it back, and racing claimers get exactly one true.
 */
import { describe, expect, it } from 'vitest';
import type { IdempotencyStore } from '../../shared/ports/index.ts';

/** `make(now)` returns a fresh store that reads the time (ms since the epoch) from `now`. */
export const describeIdempotencyContract = (
  name: string,
  make: (now: () => number) => Promise<IdempotencyStore>,
) => {
  describe(`IdempotencyStore contract: ${name}`, () => {
    const key = (label: string) => `delivery:${label}:${Math.random().toString(36).slice(2)}`;

    it('grants the first claim of a key and refuses every repeat', async () => {
      // GIVEN a store
      const store = await make(Date.now);
      const k = key('repeat');

      // WHEN the same key is claimed three times THEN only the first is granted
      expect(await store.claim(k, 3600)).toBe(true);
      expect(await store.claim(k, 3600)).toBe(false);
      expect(await store.claim(k, 3600)).toBe(false);
    });

    it('grants a released key again, so a failed attempt is not taken for a duplicate', async () => {
      // GIVEN a claimed key
      const store = await make(Date.now);
      const k = key('release');
      await store.claim(k, 3600);

      // WHEN the work fails and the claim is released THEN the retry claims it
      await store.release(k);
      expect(await store.claim(k, 3600)).toBe(true);
      expect(await store.claim(k, 3600)).toBe(false);
    });

    it('grants a key again once its TTL has passed', async () => {
      // GIVEN a key claimed for 60 seconds, on a clock the test moves
      let now = Date.UTC(2026, 0, 1);
      const store = await make(() => now);
      const k = key('ttl');
      expect(await store.claim(k, 60)).toBe(true);

      // WHEN 59 seconds pass THEN it is still taken; WHEN 61 have passed THEN it is free
      now += 59_000;
      expect(await store.claim(k, 60)).toBe(false);
      now += 2_000;
      expect(await store.claim(k, 60)).toBe(true);
    });

    it('grants exactly one of several concurrent claims of one key', async () => {
      // GIVEN a store WHEN five workers claim the same delivery at once
      const store = await make(Date.now);
      const k = key('race');
      const results = await Promise.all([1, 2, 3, 4, 5].map(() => store.claim(k, 3600)));

      // THEN exactly one is granted
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('keeps keys apart, whatever characters they hold', async () => {
      // GIVEN keys that share prefixes and hold URLs, slashes and non-ASCII
      const store = await make(Date.now);
      const base = key('chars');
      const keys = [base, `${base}/x`, `${base}:https://git.example.com/a/b.git#ü`, `${base} `];

      // WHEN each is claimed THEN each is granted once
      for (const k of keys) expect(await store.claim(k, 3600)).toBe(true);
      for (const k of keys) expect(await store.claim(k, 3600)).toBe(false);
    });

    it('accepts the release of a key that was never claimed', async () => {
      // GIVEN a store WHEN a key nobody claimed is released THEN nothing fails and it can be claimed
      const store = await make(Date.now);
      const k = key('never');
      await store.release(k);
      expect(await store.claim(k, 3600)).toBe(true);
    });
  });
};
