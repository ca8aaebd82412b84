import { beforeAll, describe, expect, inject, it } from 'vitest';
import { applyRequested } from '../../shared/core/agent.ts';
import { checkDrift } from '../../shared/core/drift.ts';
import type { KubeObject } from '../../shared/ports/index.ts';
import {
  admin,
  commitOf,
  configMap,
  getObject,
  grantAgentRbac,
  harness,
  namespace,
  uniqueName,
} from './harness.ts';

const kube = inject('kube');

beforeAll(async () => {
  await grantAgentRbac(kube);
});

const cmPath = (ns: string, name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`;
const releaseBot = {
  signer: 'release-bot',
  fingerprint: 'SHA256:4x3cVLmEJ5nYhW0m8bC7tqk1P2m9zq0GkqVJ7cUVhGk',
};

/** Annotations as a user reads them with `kubectl get -o yaml`, only Sluice's attribution keys. */
const attributionOf = async (ns: string, name: string) => {
  const live = await getObject(kube, cmPath(ns, name));
  const annotations = (live?.metadata.annotations ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(annotations).filter(([k]) => k.startsWith('sluice.dev/')));
};

describe('attribution annotations on applied objects', () => {
  it('stamps commit, bundle digest and signer; a same-bundle release writes nothing; a new bundle re-stamps', async () => {
    // GIVEN a bundle whose manifest claims a signer of its own (the repo is attacker-controlled)
    const h = harness(kube);
    const ns = uniqueName('attr');
    const app = uniqueName('attributed');
    const forged: KubeObject = {
      ...configMap(ns, 'one'),
      metadata: {
        name: 'one',
        namespace: ns,
        annotations: { 'sluice.dev/signed-by': 'mallory', keep: 'me' },
      },
    };
    const objects = [namespace(ns), forged, configMap(ns, 'two')];

    // WHEN generation 1 is delivered with the plan's verified signature
    const first = await h.request(app, objects, 1);
    const outcome = await applyRequested(h.deps, { ...first, commitSignature: releaseBot });

    // THEN each object names the commit, the bundle and the verified signer; the forged claim is gone
    expect(outcome?.detailType).toBe('Deployment Succeeded');
    const stamped = {
      'sluice.dev/commit': commitOf(1),
      'sluice.dev/bundle-digest': first.bundle.digest,
      'sluice.dev/signed-by': 'release-bot',
      'sluice.dev/signing-key': releaseBot.fingerprint,
    };
    expect(await attributionOf(ns, 'one')).toEqual(stamped);
    expect(await attributionOf(ns, 'two')).toEqual(stamped);
    const one = await getObject(kube, cmPath(ns, 'one'));
    expect(one?.metadata.annotations.keep).toBe('me');
    // ... owned by Sluice's field manager, like the rest of the manifest
    const sluiceFields = JSON.stringify(
      one?.metadata.managedFields.find((f: { manager: string }) => f.manager === 'sluice')?.fieldsV1,
    );
    expect(sluiceFields).toContain('"f:sluice.dev/commit"');
    expect(sluiceFields).toContain('"f:sluice.dev/signed-by"');

    // WHEN the same bundle comes again from a later commit (a revert, a change outside the manifests)
    const again = await h.request(app, objects, 2);
    const second = await applyRequested(h.deps, { ...again, commitSignature: releaseBot });

    // THEN nothing is written: the objects keep the attribution of the release that brought them
    expect(second?.detail).toMatchObject({ applied: 0, unchanged: 3 });
    expect((await getObject(kube, cmPath(ns, 'one')))?.metadata.resourceVersion).toBe(
      one?.metadata.resourceVersion,
    );
    expect(await attributionOf(ns, 'one')).toEqual(stamped);
    // ... and the drift check sees no difference
    expect(await checkDrift(h.deps, h.cluster, { app, target: 'onprem-1' })).toBeUndefined();

    // WHEN generation 3 changes one object and arrives unsigned (no trust policy verified it)
    const changed = [namespace(ns), forged, configMap(ns, 'two', { k: 'changed' })];
    const third = await applyRequested(h.deps, await h.request(app, changed, 3));

    // THEN every object names the new commit and bundle, none a signer, and one counts as applied
    expect(third?.detail).toMatchObject({ applied: 1, unchanged: 2 });
    const digest = (third?.detail as { digest?: string } | undefined)?.digest;
    for (const name of ['one', 'two']) {
      expect(await attributionOf(ns, name)).toEqual({
        'sluice.dev/commit': commitOf(3),
        'sluice.dev/bundle-digest': digest,
      });
    }
    expect(await checkDrift(h.deps, h.cluster, { app, target: 'onprem-1' })).toBeUndefined();
  });

  it('reports an edited attribution annotation as drift, and self-heal restores it', async () => {
    // GIVEN an applied app
    const h = harness(kube);
    const ns = uniqueName('attrdrift');
    const app = uniqueName('restamped');
    const request = await h.request(app, [namespace(ns), configMap(ns, 'cfg')], 1);
    await applyRequested(h.deps, { ...request, commitSignature: releaseBot });

    // WHEN someone rewrites the signer annotation by hand
    await admin(kube).request(
      'PATCH',
      `${cmPath(ns, 'cfg')}?fieldManager=kubectl-edit`,
      { metadata: { annotations: { 'sluice.dev/signed-by': 'mallory' } } },
      'application/merge-patch+json',
    );

    // THEN the drift check names it, and healing puts the verified signer back
    const drift = await checkDrift(h.deps, h.cluster, { app, target: 'onprem-1', heal: true });
    expect(drift?.diffs).toEqual([
      expect.objectContaining({
        object: `ConfigMap/${ns}/cfg`,
        path: 'metadata.annotations.sluice.dev/signed-by',
        desired: 'release-bot',
        live: 'mallory',
      }),
    ]);
    expect((await attributionOf(ns, 'cfg'))['sluice.dev/signed-by']).toBe('release-bot');
    expect(await checkDrift(h.deps, h.cluster, { app, target: 'onprem-1' })).toBeUndefined();
  });
});
