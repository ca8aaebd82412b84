/**
 * Issue 17, item 3: `directory: {recurse: true|false}` for directory apps. Sluice reads
 * subdirectories by default; `recurse: false` (Argo CD's default) reads only the app path's own
 * files, and `sluice import --from argocd` carries an Application's directory.recurse over.
 */
import { describe, expect, it } from 'vitest';
import { parseFleetConfig } from '../../shared/core/config.ts';
import { importArgoCd } from '../../shared/core/migrate/import.ts';
import { renderApp, renderSpecForEnvironment } from '../../shared/core/render.ts';
import type { KubeObject, SourceTree } from '../../shared/ports/index.ts';

const files: Record<string, string> = {
  'apps/web/top.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: top }\n',
  'apps/web/nested/deep.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: deep }\n',
};
const tree: SourceTree = {
  commit: 'a'.repeat(40),
  root: '/memory',
  list: async (dir) =>
    Object.keys(files)
      .filter((f) => f.startsWith(`${dir}/`))
      .sort(),
  read: async (file) => files[file],
};

const namesWith = async (directory: string) => {
  const config = parseFleetConfig(
    `apiVersion: sluice.dev/v1\nkind: Fleet\ntargets: [{ name: dev, cloud: other, region: local, cluster: { kind: directory } }]\napps:\n  - { name: web, path: apps/web, targets: {}${directory} }\n`,
    'sluice.yaml',
  );
  const spec = renderSpecForEnvironment(config, config.apps[0]!, undefined);
  return (await renderApp(tree, spec)).map((r) => r.object.metadata.name).sort();
};

describe('directory.recurse', () => {
  it('reads subdirectories by default and with recurse: true, only the top with recurse: false', async () => {
    expect(await namesWith('')).toEqual(['deep', 'top']);
    expect(await namesWith(', directory: { recurse: true }')).toEqual(['deep', 'top']);
    expect(await namesWith(', directory: { recurse: false }')).toEqual(['top']);
  });

  it('is imported from an Argo CD Application: absent recurse is false, other options are listed', () => {
    const app = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'web' },
      spec: {
        source: { repoURL: 'https://x/y.git', path: 'apps/web', directory: { exclude: '*.md' } },
        destination: { server: 'https://kubernetes.default.svc', namespace: 'web' },
        syncPolicy: { automated: {} },
      },
    } as unknown as KubeObject;
    const { config, unmapped } = importArgoCd([{ file: 'argocd/web.yaml', objects: [app] }]);
    expect(config.apps[0]).toMatchObject({ name: 'web', directory: { recurse: false } });
    expect(unmapped.map((u) => u.field)).toEqual(['spec.source.directory.exclude']);
  });
});
