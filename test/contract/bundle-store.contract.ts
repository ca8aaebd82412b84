/**
 * What render, dispatch, rollback and the agent rely on from every BundleStore: bytes stored under
 * their sha256 and read back only when they still hash to it.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BundleStore } from '../../shared/ports/index.ts';
import { rejectionOf } from './support.ts';

export interface BundleStoreFixture {
  readonly store: BundleStore;
  /** Overwrites the stored object at `key` behind the store's back (what an attacker with write access does). */
  readonly tamper: (key: string, bytes: Uint8Array) => Promise<void>;
}

const bytesOf = (text: string) => new TextEncoder().encode(text);
const unique = () => `{"objects":[{"kind":"ConfigMap","n":"${Math.random()}"}]}`;

export const describeBundleStoreContract = (name: string, make: () => Promise<BundleStoreFixture>) => {
  describe(`BundleStore contract: ${name}`, () => {
    it('stores bytes under their sha256 and reads the same bytes back', async () => {
      // GIVEN a store and a bundle
      const { store } = await make();
      const content = bytesOf(unique());
      const hex = createHash('sha256').update(content).digest('hex');

      // WHEN it is put and read back by its reference
      const ref = await store.put(content, { objects: 1 });
      const read = await store.get(ref);

      // THEN the reference names the digest, size and object count, and the bytes round-trip
      expect(ref).toEqual({
        key: `bundles/${hex}.json`,
        digest: `sha256:${hex}`,
        size: content.length,
        objects: 1,
      });
      expect(Buffer.from(read).equals(Buffer.from(content))).toBe(true);
    });

    it('treats a second put of the same bytes as a no-op with the same reference', async () => {
      // GIVEN a stored bundle
      const { store } = await make();
      const content = bytesOf(unique());
      const first = await store.put(content, { objects: 1 });

      // WHEN the same bytes are put again (a redelivered render, a revert of a revert)
      const second = await store.put(content, { objects: 1 });

      // THEN the reference is the same and the bundle still reads
      expect(second).toEqual(first);
      expect(Buffer.from(await store.get(second)).equals(Buffer.from(content))).toBe(true);
    });

    it('answers NOT_FOUND for a bundle it does not hold', async () => {
      // GIVEN a store WHEN a reference to bytes never stored is read
      const { store } = await make();
      const hex = 'f'.repeat(64);
      const outcome = await rejectionOf(store.get({ key: `bundles/${hex}.json`, digest: `sha256:${hex}` }));

      // THEN it is NOT_FOUND, not retryable
      expect(outcome).toMatchObject({ code: 'NOT_FOUND', retryable: false });
    });

    it('refuses bytes altered after they were written, with DIGEST_MISMATCH naming both digests and the fix', async () => {
      // GIVEN a stored bundle whose object is then overwritten behind the store's back
      const { store, tamper } = await make();
      const ref = await store.put(bytesOf(unique()), { objects: 1 });
      const forged = bytesOf('{"objects":[{"kind":"ClusterRoleBinding"}]}');
      await tamper(ref.key, forged);

      // WHEN it is read
      const outcome = await rejectionOf(store.get(ref));

      // THEN it is refused, not retried, and the message names the expected and actual digests
      const actual = `sha256:${createHash('sha256').update(forged).digest('hex')}`;
      expect(outcome).toMatchObject({ code: 'DIGEST_MISMATCH', retryable: false });
      expect(outcome !== 'resolved' && outcome.message).toContain(ref.digest);
      expect(outcome !== 'resolved' && outcome.message).toContain(actual);
      expect(outcome !== 'resolved' && outcome.message).toContain('Fix:');
    });

    it('refuses a reference whose digest does not match the bytes at its key', async () => {
      // GIVEN two stored bundles
      const { store } = await make();
      const a = await store.put(bytesOf(unique()), { objects: 1 });
      const b = await store.put(bytesOf(unique()), { objects: 1 });

      // WHEN a's key is read with b's digest THEN it is refused
      expect(await rejectionOf(store.get({ key: a.key, digest: b.digest }))).toMatchObject({
        code: 'DIGEST_MISMATCH',
      });
    });
  });
};
