/**
 * What the agent core relies on from every ClusterClient: apply writes the objects with the app's
 * ownership and records the inventory its stale-work check reads; a repeat changes nothing;
 * prune removes only what left the app's set; another app's object is never taken over.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ApplyOptions, ClusterClient, KubeObject } from '../../shared/ports/index.ts';
import { digestOf, rejectionOf, sha } from './support.ts';

const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

const namespace = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const configMap = (ns: string, name: string, value = 'v1'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data: { value },
});

const options = (app: string, generation: number, prune = true): ApplyOptions => ({
  prune,
  inventory: {
    app,
    generation,
    commit: sha(generation),
    digest: digestOf(generation),
    source: {
      repo: 'acme/fleet',
      branch: 'main',
      traceId: `trace-${generation}-0000`,
      bundleKey: `bundles/${digestOf(generation).slice(7)}.json`,
      sync: { prune, selfHeal: false },
    },
  },
});

export const describeClusterClientContract = (name: string, make: () => Promise<ClusterClient>) => {
  describe(`ClusterClient contract: ${name}`, () => {
    it('applies an app and records the inventory the stale-work check reads', async () => {
      // GIVEN a target without the app
      const cluster = await make();
      const app = unique('app');
      const ns = unique('ns');
      expect(await cluster.readInventory(app)).toBeUndefined();

      // WHEN generation 1 of three objects is applied
      const result = await cluster.apply(
        app,
        [namespace(ns), configMap(ns, 'one'), configMap(ns, 'two')],
        options(app, 1),
      );

      // THEN all three were applied and the inventory names the release and its three objects
      expect(result).toEqual({ applied: 3, unchanged: 0, pruned: 0 });
      const inventory = await cluster.readInventory(app);
      expect(inventory).toMatchObject({ app, generation: 1, commit: sha(1), digest: digestOf(1) });
      expect(inventory?.objects).toHaveLength(3);
      expect(inventory?.source).toEqual(options(app, 1).inventory.source);
      expect((await cluster.listInventories()).map((i) => i.app)).toContain(app);
    });

    it('changes nothing when the same objects are applied again, and moves the inventory to the new generation', async () => {
      // GIVEN an applied app
      const cluster = await make();
      const app = unique('app');
      const ns = unique('ns');
      const objects = [namespace(ns), configMap(ns, 'one')];
      await cluster.apply(app, objects, options(app, 1));

      // WHEN the same objects come again as generation 2
      const result = await cluster.apply(app, objects, options(app, 2));

      // THEN every object is unchanged and the inventory says generation 2
      expect(result).toEqual({ applied: 0, unchanged: 2, pruned: 0 });
      expect((await cluster.readInventory(app))?.generation).toBe(2);
    });

    it('prunes the objects that left the app, and only when asked', async () => {
      // GIVEN an app of a namespace and three ConfigMaps
      const cluster = await make();
      const app = unique('app');
      const ns = unique('ns');
      await cluster.apply(
        app,
        [namespace(ns), configMap(ns, 'one'), configMap(ns, 'two'), configMap(ns, 'three')],
        options(app, 1),
      );

      // WHEN generation 2 drops "three" without prune, then generation 3 drops "two" with prune
      const kept = await cluster.apply(
        app,
        [namespace(ns), configMap(ns, 'one'), configMap(ns, 'two')],
        options(app, 2, false),
      );
      const pruned = await cluster.apply(app, [namespace(ns), configMap(ns, 'one')], options(app, 3));

      // THEN nothing was pruned the first time (the inventory keeps "three"), and both the second time
      expect(kept.pruned).toBe(0);
      expect(pruned.pruned).toBe(2);
      expect((await cluster.readInventory(app))?.objects).toHaveLength(2);
    });

    it('refuses to take over an object another app owns, with OWNERSHIP_CONFLICT', async () => {
      // GIVEN app A owns ConfigMap "shared"
      const cluster = await make();
      const [a, b, ns] = [unique('a'), unique('b'), unique('ns')];
      await cluster.apply(a, [namespace(ns), configMap(ns, 'shared')], options(a, 1));

      // WHEN app B applies an object of the same identity
      const outcome = await rejectionOf(cluster.apply(b, [configMap(ns, 'shared', 'mine')], options(b, 1)));

      // THEN it is refused naming the owner, not retried, and B records no inventory
      expect(outcome).toMatchObject({ code: 'OWNERSHIP_CONFLICT', retryable: false });
      expect(outcome !== 'resolved' && outcome.message).toContain(a);
      expect(await cluster.readInventory(b)).toBeUndefined();
    });
  });
};
