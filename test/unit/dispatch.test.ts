import { describe, expect, it } from 'vitest';
import { ephemeralSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import { dispatchBundle } from '../../shared/core/dispatch.ts';
import { recordOutcome } from '../../shared/core/report.ts';
import { bundleVerified, inProcess, storeBundle, succeeded } from './core-fixtures.ts';

describe('dispatchBundle', () => {
  it('records Pending in the ledger before it hands each target its Apply Requested', async () => {
    // GIVEN a verified bundle for two targets
    const env = await inProcess();
    const bundle = await storeBundle(env.bundles, 'v1', 'x');

    // WHEN it is dispatched
    const requests = await dispatchBundle(env, bundleVerified(1, bundle, ['a', 'b']));

    // THEN each agent got its request after the ledger said Pending, and the bus shows each hand-off
    expect(
      env.sent.map((s) => [s.target, s.ledgerState, s.request.generation, s.request.bundle.digest]),
    ).toEqual([
      ['a', 'Pending@1', 1, bundle.digest],
      ['b', 'Pending@1', 1, bundle.digest],
    ]);
    expect(
      env.published('Apply Requested').map((e) => (e.detail as { target: { name: string } }).target.name),
    ).toEqual(['a', 'b']);
    expect(requests).toHaveLength(2);
  });

  it('leaves a target alone whose ledger already holds a newer generation', async () => {
    // GIVEN target a Healthy at generation 3, target b never deployed
    const env = await inProcess();
    const newer = await storeBundle(env.bundles, 'v3', 'x');
    const [three] = await dispatchBundle(env, bundleVerified(3, newer, ['a']));
    await recordOutcome(env, { kind: 'succeeded', detail: succeeded(three!, env.clock.iso()) });
    const before = await env.ledger.getDeployment('web', 'a');
    env.sent.length = 0;

    // WHEN a late Bundle Verified of generation 2 arrives for both
    const older = await storeBundle(env.bundles, 'v2', 'x');
    await dispatchBundle(env, bundleVerified(2, older, ['a', 'b']));

    // THEN only b is dispatched; a keeps generation 3, untouched
    expect(env.sent.map((s) => s.target)).toEqual(['b']);
    expect(await env.ledger.getDeployment('web', 'a')).toEqual(before);
  });

  it('absorbs a redelivered Bundle Verified: same dedup id while Pending, nothing once answered', async () => {
    // GIVEN a dispatched release, still Pending on a and b
    const env = await inProcess();
    const bundle = await storeBundle(env.bundles, 'v1', 'x');
    const verified = bundleVerified(1, bundle, ['a', 'b']);
    const [first] = await dispatchBundle(env, verified);

    // WHEN the same Bundle Verified is delivered again (a crash may have come before a send)
    await dispatchBundle(env, verified);

    // THEN each target is handed over again with the same deduplication id (the FIFO agent queue
    // drops the copy)
    expect(env.sent.map((s) => s.target)).toEqual(['a', 'b', 'a', 'b']);
    expect(env.sent[2]?.dedupId).toBe(env.sent[0]?.dedupId);

    // WHEN a became Healthy and the bundle comes a third time
    await recordOutcome(env, { kind: 'succeeded', detail: succeeded(first!, env.clock.iso()) });
    const healthy = await env.ledger.getDeployment('web', 'a');
    await dispatchBundle(env, verified);

    // THEN only b, still Pending, is handed over again; a's ledger is still Healthy
    expect(env.sent.slice(4).map((s) => s.target)).toEqual(['b']);
    expect(await env.ledger.getDeployment('web', 'a')).toEqual(healthy);
  });

  it('signs every bundle it hands over when a signer is configured, and the agent key verifies it', async () => {
    // GIVEN a pipeline with a signing key
    const env = await inProcess();
    const { signer, verifier } = ephemeralSigningKey();
    const bundle = await storeBundle(env.bundles, 'v1', 'x');

    // WHEN a bundle is dispatched
    await dispatchBundle({ ...env, signer }, bundleVerified(1, bundle, ['a']));

    // THEN the request the agent receives is signed over its digest, and only that digest
    const signature = env.sent[0]?.request.bundle.signature;
    expect(signature).toBeDefined();
    expect(await verifier.verify(bundle.digest, signature!)).toBe(true);
    expect(await verifier.verify(`sha256:${'0'.repeat(64)}`, signature!)).toBe(false);
  });
});
