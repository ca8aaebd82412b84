import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importRepo, importText } from '../../cli/commands/import.ts';
import { openBarePath, renderWithCliTools } from '../../cli/commands/render.ts';
import { validateDirectory } from '../../cli/commands/validate.ts';
import { startTestDev, type TestDev, tempDir, waitFor } from '../support/dev-harness.ts';

/**
 * Migration from Argo CD and Flux (docs/migrate.md) over fixtures modelled on
 * argoproj/argocd-example-apps (an app of apps) and fluxcd/flux2-kustomize-helm-example
 * (clusters/, apps/base + overlays, infrastructure/, HelmReleases).
 */
const here = path.dirname(new URL(import.meta.url).pathname);
const ARGO = path.join(here, 'argocd-repo');
const FLUX = path.join(here, 'flux-repo');

/** A copy of a fixture repo with the imported sluice.yaml written into it. */
const imported = async (from: 'argocd' | 'flux', fixture: string): Promise<string> => {
  const dir = await tempDir(`import-${from}`);
  await cp(fixture, dir, { recursive: true });
  await writeFile(path.join(dir, 'sluice.yaml'), importText(await importRepo(from, fixture), from));
  return dir;
};

/** Every file of a directory, repo-relative, as dev-harness push() takes them. */
const filesOf = async (dir: string): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, full)] = await readFile(full, 'utf8');
  }
  return out;
};

/** Pushes a commit whose tree is exactly `dir`: every other file of the clone is deleted. */
const replaceRepo = async (t: TestDev, dir: string, message: string): Promise<void> => {
  const drop = Object.fromEntries(
    Object.keys(await filesOf(t.clone))
      .filter((f) => !f.startsWith('.git/'))
      .map((f) => [f, null]),
  );
  await t.push({ ...drop, ...(await filesOf(dir)) }, message);
};

describe('sluice import --from argocd', () => {
  it('turns each child of an app of apps into an app and lists what it could not map', async () => {
    // GIVEN a root Application whose path holds five Applications
    // WHEN it is imported
    const { config, unmapped } = await importRepo('argocd', ARGO);
    // THEN the children are apps with path, namespace, helm and sync mapped; the root is not needed
    expect(config.apps.map((a) => a.name)).toEqual([
      'guestbook',
      'helm-guestbook',
      'kustomize-guestbook',
      'sync-waves',
    ]);
    expect(config.apps.find((a) => a.name === 'helm-guestbook')).toMatchObject({
      path: 'helm-guestbook',
      namespace: 'helm-guestbook',
      helm: { releaseName: 'guestbook-web' },
      sync: { prune: true, selfHeal: true },
      environments: {
        'in-cluster': { valueFiles: ['values-production.yaml'], values: { 'service.port': '8080' } },
      },
    });
    const why = unmapped.map((u) => `${u.source} ${u.field}: ${u.why}`);
    expect(why).toContainEqual(
      expect.stringMatching(
        /^Application\/root \(root\.yaml\) spec\.source\.path: app of apps: its 5 child Applications/,
      ),
    );
    expect(why).toContainEqual(expect.stringMatching(/ingress-nginx.*"4\.\*" is not exact/));
  });
});

describe('sluice import --from argocd with an ApplicationSet', () => {
  it('reads the ApplicationSet file and makes one app per list element', async () => {
    // GIVEN a repo whose ApplicationSet (with {{cluster}} templates) makes dev and prod Applications
    const { config, unmapped } = await importRepo('argocd', path.join(here, 'argocd-appset'));
    // WHEN imported THEN both generated Applications are apps on their own targets
    expect(config.apps.map((a) => [a.name, a.path, a.targets])).toEqual([
      ['dev-guestbook', 'guestbook/dev', { matchLabels: { cluster: 'dev' } }],
      ['prod-guestbook', 'guestbook/prod', { matchLabels: { cluster: 'prod' } }],
    ]);
    expect(unmapped).toEqual([]);
  });
});

describe('sluice import --from flux', () => {
  it('maps Kustomizations and HelmReleases to apps, postBuild.substitute included', async () => {
    // GIVEN a Flux repo with clusters/production, apps/ overlays and infrastructure/
    // WHEN it is imported
    const { config, unmapped } = await importRepo('flux', FLUX);
    // THEN the plain Kustomization and the git-sourced HelmRelease are apps
    expect(config.targets.map((t) => t.name)).toEqual(['production']);
    expect(config.apps).toEqual([
      expect.objectContaining({
        name: 'infra-configs',
        path: 'infrastructure/configs',
        substitute: { CLUSTER_NAME: 'production', CLUSTER_REGION: 'eu-west-1' },
        sync: { prune: true, selfHeal: true },
      }),
      expect.objectContaining({
        name: 'podinfo',
        path: 'charts/podinfo',
        kind: 'helm',
        namespace: 'podinfo',
        environments: { production: { values: { replicaCount: 2, 'ingress.enabled': false } } },
      }),
    ]);
    // AND bootstrap, ranges, patches and dependsOn are listed with why
    expect(unmapped.map((u) => `${u.source} ${u.field}`)).toEqual(
      expect.arrayContaining([
        'Kustomization/flux-system (clusters/production/flux-system/gotk-sync.yaml) metadata.name',
        'HelmRelease/ingress-nginx (infrastructure/controllers/ingress-nginx.yaml) spec.chart.spec.version',
        'HelmRelease/podinfo (apps/production/podinfo-values.yaml) spec',
        'Kustomization/infra-configs (clusters/production/infrastructure.yaml) spec.dependsOn',
      ]),
    );
  });
});

describe('Argo CD and Flux objects in an app', () => {
  it('are refused with "run sluice import", not deployed as inert custom objects', async () => {
    // GIVEN Flux's apps/production overlay, which renders a HelmRelease
    const bare = await openBarePath(path.join(FLUX, 'apps/production'));
    // WHEN it renders THEN the render names the object and the command
    await expect(renderWithCliTools(bare.tree, bare.spec)).rejects.toThrow(
      /HelmRelease\/podinfo\/podinfo \(helm\.toolkit\.fluxcd\.io\/v2\) is a Flux object.*Fix: run `sluice import --from flux <repo>`/,
    );
  });
});

describe('sluice validate after import', () => {
  for (const [from, fixture] of [
    ['argocd', ARGO],
    ['flux', FLUX],
  ] as const) {
    it(`reports no failure for the imported ${from} example repo`, async () => {
      // GIVEN the example repo with the sluice.yaml `sluice import --from ${from}` wrote
      const dir = await imported(from, fixture);
      try {
        // WHEN it is validated THEN every app renders and no policy fails
        const result = await validateDirectory(dir);
        expect(result.violations).toEqual([]);
        expect(result.renders).toBeGreaterThan(1);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('imported repos deploy through sluice dev', () => {
  it('deploys an imported Argo CD app of apps, then an imported Flux repo', async () => {
    // GIVEN `sluice dev` running its example fleet
    const t = await startTestDev({ coalesceMs: 100 });
    try {
      // WHEN the Argo CD repo and its imported sluice.yaml replace the fleet
      const argo = await imported('argocd', ARGO);
      await replaceRepo(t, argo, 'import from Argo CD');
      // THEN every imported app is Healthy on the imported target
      const healthy = (apps: string[], target: string) =>
        waitFor(`${apps.join(', ')} Healthy on ${target}`, async () => {
          const records = await t.dev.pipeline.ledger.listDeployments();
          return apps.every((app) =>
            records.some((r) => r.app === app && r.target === target && r.state === 'Healthy'),
          )
            ? records
            : undefined;
        });
      await healthy(['guestbook', 'helm-guestbook', 'kustomize-guestbook', 'sync-waves'], 'in-cluster');
      // WHEN the Flux repo and its import replace it
      const flux = await imported('flux', FLUX);
      await replaceRepo(t, flux, 'import from Flux');
      // THEN its apps are Healthy, and the substituted ConfigMap is in the target
      await healthy(['infra-configs', 'podinfo'], 'production');
      const settings = await readFile(
        path.join(t.workdir, 'targets', 'production', 'kube-system', 'configmap.cluster-settings.yaml'),
        'utf8',
      );
      expect(settings).toMatch(/cluster: production\n/);
      expect(settings).toMatch(/tier: standard\n/);
      await rm(argo, { recursive: true, force: true });
      await rm(flux, { recursive: true, force: true });
    } finally {
      await t.stop();
    }
  }, 180_000);
});
