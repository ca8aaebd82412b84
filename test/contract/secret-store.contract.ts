/**
 * What the agent (secret refs at apply time), ingest (webhook secrets) and `sluice webhook
 * register` (writes) rely on from every writable SecretStore: a written secret's fields read back
 * as REF#FIELD at once, a write replaces the whole secret, absence is NOT_FOUND, and no error
 * ever carries a secret value.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { WritableSecretStore } from '../../shared/ports/index.ts';
import { rejectionOf } from './support.ts';

export interface SecretStoreFixture {
  readonly store: WritableSecretStore;
  /** The whole-secret reference (no `#KEY`) of a secret called `name`, in this store's scheme. */
  readonly ref: (name: string) => string;
}

export const describeSecretStoreContract = (name: string, make: () => Promise<SecretStoreFixture>) => {
  describe(`SecretStore contract: ${name}`, () => {
    const fresh = () => `sluice-contract/${randomUUID()}`;

    it('reads each field of a written secret as REF#FIELD', async () => {
      // GIVEN a store WHEN a secret with two fields is written
      const { store, ref } = await make();
      const secret = ref(fresh());
      await store.put(secret, { username: 'deploy', password: 's3cr3t-value' });

      // THEN each field reads back
      expect(await store.get(`${secret}#username`)).toBe('deploy');
      expect(await store.get(`${secret}#password`)).toBe('s3cr3t-value');
    });

    it('replaces the whole secret on a write, and the same store reads the new value at once', async () => {
      // GIVEN a secret that was read once (and may be cached)
      const { store, ref } = await make();
      const secret = ref(fresh());
      await store.put(secret, { token: 'old-token', extra: 'x' });
      expect(await store.get(`${secret}#token`)).toBe('old-token');

      // WHEN it is rotated to a new value without the extra field
      await store.put(secret, { token: 'new-token' });

      // THEN the new value is read at once and the dropped field is gone
      expect(await store.get(`${secret}#token`)).toBe('new-token');
      expect(await rejectionOf(store.get(`${secret}#extra`))).toMatchObject({ code: 'NOT_FOUND' });
    });

    it('answers NOT_FOUND, not retryable, for a secret that does not exist', async () => {
      // GIVEN a store WHEN a reference to a secret nobody wrote is read THEN NOT_FOUND
      const { store, ref } = await make();
      expect(await rejectionOf(store.get(`${ref(fresh())}#password`))).toMatchObject({
        code: 'NOT_FOUND',
        retryable: false,
      });
    });

    it('answers NOT_FOUND for a field the secret does not hold, without revealing the ones it does', async () => {
      // GIVEN a secret with one field
      const { store, ref } = await make();
      const secret = ref(fresh());
      await store.put(secret, { password: 'hunter2-do-not-print' });

      // WHEN another field is read
      const outcome = await rejectionOf(store.get(`${secret}#pasword`));

      // THEN it is NOT_FOUND naming the field, and the message holds no secret value
      expect(outcome).toMatchObject({ code: 'NOT_FOUND' });
      expect(outcome !== 'resolved' && outcome.message).toContain('pasword');
      expect(outcome !== 'resolved' && outcome.message).not.toContain('hunter2');
    });

    it('refuses a write to a reference that names a field, with BAD_INPUT', async () => {
      // GIVEN a store WHEN a write names REF#FIELD (a write replaces the whole secret)
      const { store, ref } = await make();
      const outcome = await rejectionOf(store.put(`${ref(fresh())}#password`, { password: 'x' }));

      // THEN it is refused before anything is written
      expect(outcome).toMatchObject({ code: 'BAD_INPUT', retryable: false });
    });
  });
};
