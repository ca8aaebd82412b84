import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ephemeralSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { MemorySecretStore } from '../../shared/adapters/local/memory.ts';
import { parseFleetConfig } from '../../shared/core/config.ts';
import { removalDigest, removalsFor, removeRequested } from '../../shared/core/removal.ts';
import type { DeploymentRecord, KubeObject } from '../../shared/ports/index.ts';
import type { RemovalRequested } from '../../shared/schemas/events.ts';
import { inProcess, sha, target } from './core-fixtures.ts';

const fleet = (apps: string) =>
  parseFleetConfig(`apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - { name: edge-a, cloud: onprem, region: r1, labels: { env: prod } }
  - { name: edge-b, cloud: onprem, region: r1, labels: { env: staging } }
apps:
${apps}`);

const record = (app: string, tgt: string, over: Partial<DeploymentRecord> = {}): DeploymentRecord =>
  ({
    app,
    target: tgt,
    repo: 'acme/fleet',
    branch: 'main',
    commit: sha(1),
    generation: 1,
    digest: `sha256:${'a'.repeat(64)}`,
    bundleKey: 'bundles/a.json',
    traceId: 'trace-0001',
    state: 'Healthy',
    updatedAt: '2026-01-01T00:00:00.000Z',
    history: [],
    version: 1,
    ...over,
  }) as DeploymentRecord;

const configMap = (name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'web' },
  data: { k: name },
});

const removal = (over: Partial<RemovalRequested> = {}): RemovalRequested => {
  const base = {
    schemaVersion: 1 as const,
    traceId: 'trace-0002',
    repo: 'acme/fleet',
    branch: 'main',
    commit: sha(2),
    occurredAt: '2026-01-01T00:00:00.000Z',
    generation: 2,
    app: 'web',
    target: target('edge-a'),
    reason: 'app-removed' as const,
    ...over,
  };
  return { ...base, digest: over.digest ?? removalDigest(base) };
};

describe('removalsFor', () => {
  it('names apps gone from the config and targets an app no longer selects, for this repo and branch only', () => {
    // GIVEN web on both targets, api on edge-a, all from acme/fleet; another repo's web on edge-b
    const deployed = [
      record('web', 'edge-a'),
      record('web', 'edge-b'),
      record('api', 'edge-a'),
      record('api', 'edge-b', { repo: 'other/fleet' }),
      record('old', 'edge-a', { state: 'Removed' }),
      record('gone', 'edge-z'),
    ];
    // WHEN web is narrowed to prod and api is deleted
    const config = fleet('  - { name: web, path: apps/web, targets: { matchLabels: { env: prod } } }\n');
    const removals = removalsFor({
      repo: 'acme/fleet',
      branch: 'main',
      config,
      deployed,
      toTargetRef: (t) => target(t.name),
    });
    // THEN web leaves edge-b, api leaves edge-a; the other repo, a removed app and an unknown target are left alone
    expect(removals.map((r) => `${r.app}@${r.target.name}:${r.reason}`).sort()).toEqual([
      'api@edge-a:app-removed',
      'web@edge-b:target-deselected',
    ]);
  });
});

describe('removeRequested', () => {
  const setup = async () => {
    const world = await inProcess();
    const root = await mkdtemp(join(tmpdir(), 'sluice-removal-'));
    const cluster = new DirectoryCluster(root);
    const keys = ephemeralSigningKey();
    const deps = {
      bundles: world.bundles,
      cluster: () => cluster,
      secrets: new MemorySecretStore({}),
      bus: world.bus,
      clock: world.clock,
      verifier: keys.verifier,
    };
    const deploy = (repo: string, prune: boolean) =>
      cluster.apply('web', [configMap('a'), configMap('b')], {
        prune: true,
        inventory: {
          app: 'web',
          generation: 1,
          commit: sha(1),
          digest: `sha256:${'a'.repeat(64)}`,
          source: {
            repo,
            branch: 'main',
            traceId: 'trace-0001',
            bundleKey: 'bundles/a.json',
            sync: { prune, selfHeal: false },
          },
        },
      });
    const sign = async (r: RemovalRequested) => ({ ...r, signature: await keys.signer.sign(r.digest) });
    const files = async () => (await readdir(join(root, 'web')).catch(() => [])).sort();
    return { world, deps, deploy, sign, files };
  };

  it('deletes the app objects and reports Deployment Removed', async () => {
    const { world, deps, deploy, sign, files } = await setup();
    await deploy('acme/fleet', true);
    const event = await removeRequested(deps, await sign(removal()));
    expect(event.detailType).toBe('Deployment Removed');
    expect(event.detail).toMatchObject({ removed: 2, reason: 'app-removed' });
    expect(await files()).toEqual([]);
    expect(world.published('Deployment Removed')).toHaveLength(1);
  });

  it('refuses an unsigned removal, and one whose digest was swapped, deleting nothing', async () => {
    const { deps, deploy, sign, files } = await setup();
    await deploy('acme/fleet', true);
    const unsigned = await removeRequested(deps, removal());
    expect(unsigned.detailType).toBe('Deployment Failed');
    // A signature of another removal, its digest carried along: the agent recomputes the digest.
    const other = await sign(removal({ app: 'api' }));
    const swapped = await removeRequested(deps, {
      ...removal(),
      digest: other.digest,
      signature: other.signature,
    });
    expect(swapped.detailType).toBe('Deployment Failed');
    expect((swapped.detail as { reason: string }).reason).toBe('SIGNATURE_INVALID');
    expect(await files()).toEqual(['configmap.a.yaml', 'configmap.b.yaml']);
  });

  it("keeps another repo's app of the same name, and an app deployed with prune off", async () => {
    const other = await setup();
    await other.deploy('other/fleet', true);
    const refused = await removeRequested(other.deps, await other.sign(removal()));
    expect(refused.detail).toMatchObject({ reason: 'not-owned' });
    expect(await other.files()).toHaveLength(2);

    const pruneOff = await setup();
    await pruneOff.deploy('acme/fleet', false);
    const kept = await removeRequested(pruneOff.deps, await pruneOff.sign(removal()));
    expect(kept.detailType).toBe('Deployment Skipped');
    expect(kept.detail).toMatchObject({ reason: 'prune-disabled' });
    expect(await pruneOff.files()).toHaveLength(2);
  });
});
