/**
 * What the agent relies on from every BundleSigner/BundleVerifier pair: a hand-off signed by the
 * control plane's key verifies for its own digest and for nothing else, and a signature that was
 * moved, altered, relabelled or made by another key is refused with `false`, never a throw.
 */
import { describe, expect, it } from 'vitest';
import type { BundleSigner, BundleVerifier } from '../../shared/ports/index.ts';
import { digestOf } from './support.ts';

export interface BundleSigningFixture {
  readonly signer: BundleSigner;
  readonly verifier: BundleVerifier;
  /** A signer the verifier does not trust (another key of the same kind). */
  readonly stranger: BundleSigner;
}

export const describeBundleSigningContract = (name: string, make: () => Promise<BundleSigningFixture>) => {
  describe(`BundleSigner/BundleVerifier contract: ${name}`, () => {
    it('verifies a signature for the digest it was made for, and for no other', async () => {
      // GIVEN a bundle digest signed by the control plane's key
      const { signer, verifier } = await make();
      const signature = await signer.sign(digestOf(1));
      // WHEN the agent checks it  THEN it holds for that digest only
      expect(await verifier.verify(digestOf(1), signature)).toBe(true);
      expect(await verifier.verify(digestOf(2), signature)).toBe(false);
    });

    it('refuses a signature made by a key it does not trust', async () => {
      // GIVEN a signature by another key of the same kind, even one claiming the trusted key's id
      const { signer, verifier, stranger } = await make();
      const trusted = await signer.sign(digestOf(3));
      const foreign = await stranger.sign(digestOf(3));
      // THEN the agent refuses both
      expect(await verifier.verify(digestOf(3), foreign)).toBe(false);
      expect(await verifier.verify(digestOf(3), { ...foreign, keyId: trusted.keyId })).toBe(false);
    });

    it('refuses an altered, truncated or relabelled signature without throwing', async () => {
      // GIVEN a good signature
      const { signer, verifier } = await make();
      const good = await signer.sign(digestOf(4));
      const bytes = Buffer.from(good.value, 'base64');
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
      const other = good.algorithm === 'ed25519' ? 'ecdsa-p256-sha256' : 'ed25519';
      // WHEN it is tampered with  THEN every variant is refused
      for (const tampered of [
        { ...good, value: bytes.toString('base64') },
        { ...good, value: good.value.slice(0, 16) },
        { ...good, value: 'not base64 at all ✗' },
        { ...good, algorithm: other },
      ] as const) {
        expect(await verifier.verify(digestOf(4), tampered)).toBe(false);
      }
    });
  });
};
