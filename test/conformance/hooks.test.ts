import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openBarePath } from '../../cli/commands/render.ts';
import { applyOrder } from '../../shared/adapters/k8s/kubernetes-cluster.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { encodeBundle, sha256Digest } from '../../shared/core/bundle.ts';
import { objectRef, type RenderedObject, renderApp } from '../../shared/core/render.ts';

/** Helm and Argo CD hooks (docs/rendering.md#hooks-and-ordering), rendered with the layer's helm. */
const here = path.join(path.dirname(new URL(import.meta.url).pathname), 'hooks');
const renderer = createToolRenderer();

const render = async (dir: string): Promise<RenderedObject[]> => {
  const bare = await openBarePath(path.join(here, dir));
  return renderApp(bare.tree, bare.spec, renderer);
};

const digestOf = (objects: RenderedObject[]) =>
  sha256Digest(encodeBundle(objects, { app: 'x', commit: 'c' }));

describe('helm hooks', () => {
  it('drops test and delete hooks, orders pre hooks by weight then name before the app and post hooks after', async () => {
    // GIVEN a chart with pre-install hooks of weight -5 and 5, a post-install generateName Job,
    // a pre-delete Job and a test Pod whose name is random
    // WHEN Sluice renders it
    const objects = await render('chart');
    // THEN the apply order is pre hooks, the app's objects, post hooks; tests and delete hooks are gone
    const refs = objects.map((r) => objectRef(r.object));
    expect(refs.slice(0, 3)).toEqual([
      'ServiceAccount/chart-zz-hook-account',
      'Job/chart-migrate',
      'ConfigMap/chart-config',
    ]);
    expect(refs[3]).toMatch(/^Job\/chart-notify-[0-9a-f]{10}$/);
    expect(refs).toHaveLength(4);
  });

  it('gives the same bundle digest on every render, although the test hook draws a random name', async () => {
    // GIVEN the chart WHEN rendered twice THEN the digests are equal
    expect(digestOf(await render('chart'))).toBe(digestOf(await render('chart')));
  });

  it('refuses a chart whose output outside hooks changes between runs, naming the object', async () => {
    // GIVEN a chart that puts randAlphaNum into a Secret WHEN rendered THEN the render fails
    await expect(render('random')).rejects.toThrow(
      /helm template gives different output for the same commit and values in two runs: Secret\/random-password \([^)]*random\/templates\/secret\.yaml: its content changes\).*Fix: pass the generated value in/,
    );
  });
});

describe('Argo CD hooks and sync waves', () => {
  it('applies Namespaces, then PreSync hooks, then objects by sync-wave, then PostSync; SyncFail is not deployed', async () => {
    // GIVEN a directory app with a PreSync generateName Job, waves -1 and 2, a PostSync and a SyncFail hook
    // WHEN Sluice renders it
    const refs = (await render('argocd')).map((r) => objectRef(r.object));
    // THEN the order follows Argo CD's phases and waves
    expect(refs).toEqual([
      'Namespace/web',
      expect.stringMatching(/^Job\/schema-[0-9a-f]{10}$/),
      'ConfigMap/web-config',
      'Deployment/web',
      'Job/smoke',
    ]);
  });
});

describe('the Kubernetes agent keeps the phases', () => {
  it('applies pre hooks, the app by wave and kind, then post hooks, whatever order the bundle holds', async () => {
    // GIVEN the rendered Argo CD and helm hook fixtures, shuffled
    const objects = [...(await render('argocd')), ...(await render('chart'))].map((r) => r.object).reverse();
    // WHEN the agent orders them for its server-side apply
    const refs = applyOrder(objects).map(objectRef);
    // THEN the Namespace leads, pre hooks precede every object of the app and post hooks follow
    const at = (pattern: RegExp) => refs.findIndex((r) => pattern.test(r));
    expect(refs[0]).toBe('Namespace/web');
    expect(at(/^ServiceAccount\/chart-zz-hook-account$/)).toBeLessThan(at(/^Job\/chart-migrate$/));
    expect(at(/^Job\/chart-migrate$/)).toBeLessThan(at(/^ConfigMap\/web-config$/));
    expect(at(/^Job\/schema-/)).toBeLessThan(at(/^ConfigMap\/web-config$/));
    expect(at(/^ConfigMap\/web-config$/)).toBeLessThan(at(/^Deployment\/web$/));
    expect(at(/^Deployment\/web$/)).toBeLessThan(at(/^Job\/smoke$/));
    expect(at(/^ConfigMap\/chart-config$/)).toBeLessThan(at(/^Job\/chart-notify-/));
  });
});
