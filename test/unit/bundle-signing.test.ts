import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ephemeralSigningKey, localSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import { FileBundleStore } from '../../shared/adapters/local/bundle-store.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { MemorySecretStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { applyRequested } from '../../shared/core/agent.ts';
import { encodeBundle } from '../../shared/core/bundle.ts';
import type { ApplyRequested, BundleRef, OutboundEvent } from '../../shared/schemas/events.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const setup = async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'sluice-signing-'));
  dirs.push(root);
  const bundles = new FileBundleStore(root);
  const bytes = encodeBundle(
    [
      {
        file: 'apps/web/cm.yaml',
        object: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'web', namespace: 'web' },
          data: { a: '1' },
        },
      },
    ],
    { app: 'web', commit: 'a'.repeat(40) },
  );
  const ref = await bundles.put(bytes, { objects: 1 });
  const published: OutboundEvent[] = [];
  const trusted = ephemeralSigningKey();
  const targetDir = path.join(root, 'target');
  const deps = {
    bundles,
    cluster: () => new DirectoryCluster(targetDir),
    secrets: new MemorySecretStore(),
    bus: { publish: async (events: readonly OutboundEvent[]) => void published.push(...events) },
    clock: systemClock,
    verifier: trusted.verifier,
  };
  const request = (bundle: BundleRef): ApplyRequested => ({
    schemaVersion: 1,
    traceId: 'trace-signing',
    repo: 'acme/fleet',
    branch: 'main',
    commit: 'a'.repeat(40),
    occurredAt: new Date().toISOString(),
    generation: 1,
    app: 'web',
    target: { name: 't1', cloud: 'aws', region: 'us-east-1', agent: 'lambda' },
    bundle,
    sync: { prune: true, selfHeal: false },
  });
  const written = async () => readdir(targetDir).catch(() => []);
  return { deps, ref, trusted, request, published, written };
};

describe('bundle signatures', () => {
  it('applies a bundle signed by the trusted key', async () => {
    // GIVEN a bundle signed by the pipeline's key
    const { deps, ref, trusted, request, published, written } = await setup();
    const signature = await trusted.signer.sign(ref.digest);
    // WHEN the agent gets it THEN it is applied
    await applyRequested(deps, request({ ...ref, signature }));
    expect(published.map((e) => e.detailType)).toEqual(['Deployment Succeeded']);
    expect(await written()).toContain('web');
  });

  it('refuses an unsigned bundle, one signed by another key, and a signature for another digest, before reading it', async () => {
    const { deps, ref, trusted, request, published, written } = await setup();
    const stranger = ephemeralSigningKey();
    const cases = [
      ref,
      { ...ref, signature: await stranger.signer.sign(ref.digest) },
      { ...ref, signature: await trusted.signer.sign(`sha256:${'0'.repeat(64)}`) },
    ];
    // WHEN each reaches the agent
    for (const bundle of cases) await applyRequested(deps, request(bundle));
    // THEN each fails with SIGNATURE_INVALID and nothing reached the target
    expect(published.map((e) => [e.detailType, (e.detail as { reason?: string }).reason])).toEqual([
      ['Deployment Failed', 'SIGNATURE_INVALID'],
      ['Deployment Failed', 'SIGNATURE_INVALID'],
      ['Deployment Failed', 'SIGNATURE_INVALID'],
    ]);
    expect(await written()).toEqual([]);
  });

  it('keeps the local key across restarts, so earlier signatures still verify', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'sluice-key-'));
    dirs.push(root);
    const first = await localSigningKey(root);
    const signature = await first.signer.sign(`sha256:${'1'.repeat(64)}`);
    const second = await localSigningKey(root);
    expect(await second.verifier.verify(`sha256:${'1'.repeat(64)}`, signature)).toBe(true);
  });
});
