/**
 * Issue 17, item 9: `sluice import --from argocd` expands ApplicationSets with list and cluster
 * generators into one app per generated Application, and lists what it cannot map.
 */

import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { importArgoCd } from '../../shared/core/migrate/import.ts';
import type { KubeObject } from '../../shared/ports/index.ts';

const file = (name: string, text: string) => ({
  file: name,
  objects: parseAllDocuments(text).map((d) => d.toJS() as KubeObject),
});

const appSet = (generators: string, template = '') => `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: { name: guestbook }
spec:
  generators:
${generators}
  template:
    metadata: { name: '{{cluster}}-guestbook' }
    spec:
      project: default
      source: { repoURL: https://github.com/acme/gitops.git, targetRevision: HEAD, path: 'guestbook/{{cluster}}' }
      destination: { name: '{{cluster}}', namespace: guestbook }
      syncPolicy: { automated: { prune: true } }
${template}`;

describe('ApplicationSets in sluice import --from argocd', () => {
  it('turns each element of a list generator into an app on its own target', () => {
    // GIVEN an ApplicationSet over two clusters, modelled on Argo CD's list generator example
    const { config, unmapped } = importArgoCd([
      file(
        'appsets/guestbook.yaml',
        appSet(
          '    - list:\n        elements:\n          - { cluster: engineering-dev, url: https://1.2.3.4 }\n          - { cluster: engineering-prod, url: https://2.4.6.8 }',
        ),
      ),
    ]);
    // WHEN imported THEN each element is an app with its path, namespace, target and sync
    expect(config.apps).toEqual([
      expect.objectContaining({
        name: 'engineering-dev-guestbook',
        path: 'guestbook/engineering-dev',
        namespace: 'guestbook',
        targets: { matchLabels: { cluster: 'engineering-dev' } },
        sync: { prune: true, selfHeal: false },
      }),
      expect.objectContaining({ name: 'engineering-prod-guestbook', path: 'guestbook/engineering-prod' }),
    ]);
    expect(config.targets.map((t) => t.name)).toEqual(['engineering-dev', 'engineering-prod']);
    expect(unmapped.filter((u) => u.source.startsWith('ApplicationSet'))).toEqual([]);
  });

  it('selects clusters of a cluster generator from the Argo CD cluster Secrets by matchLabels', () => {
    // GIVEN two cluster Secrets (one labelled staging) and a goTemplate ApplicationSet over staging
    const secrets = ['alpha', 'beta']
      .map(
        (name, i) => `apiVersion: v1
kind: Secret
metadata:
  name: cluster-${name}
  labels: { argocd.argoproj.io/secret-type: cluster, env: ${i === 0 ? 'staging' : 'prod'} }
type: Opaque
data: { name: ${btoa(name)}, server: ${btoa(`https://${name}.example:6443`)}, config: ${btoa('{"bearerToken":"secret"}')} }
`,
      )
      .join('---\n');
    const set = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: { name: web }
spec:
  goTemplate: true
  generators:
    - clusters:
        selector: { matchLabels: { env: staging } }
        values: { tier: '{{.metadata.labels.env}}' }
    - git: { repoURL: https://github.com/acme/gitops.git, revision: HEAD, directories: [{ path: apps/* }] }
  template:
    metadata: { name: 'web-{{.name}}' }
    spec:
      source: { repoURL: https://github.com/acme/gitops.git, path: 'web/{{.values.tier}}' }
      destination: { server: '{{.server}}', namespace: web }
`;
    const { config, unmapped } = importArgoCd([file('clusters.yaml', secrets), file('web.yaml', set)]);
    // WHEN imported THEN only the staging cluster has an app, its path from the generator's values
    expect(config.apps).toEqual([
      expect.objectContaining({
        name: 'web-alpha',
        path: 'web/staging',
        targets: { matchLabels: { cluster: 'alpha-example' } },
      }),
    ]);
    // AND the credentials never reach the sluice.yaml, and the git generator is listed with why
    expect(JSON.stringify(config)).not.toContain('bearerToken');
    expect(unmapped).toContainEqual({
      source: 'ApplicationSet/web (web.yaml)',
      field: 'spec.generators[1].git',
      why: 'the git generator is not imported: only list and clusters are; write one app per generated Application',
    });
  });

  it('imports a chart source with its exact version and asks for the digest', () => {
    const app = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'redis' },
      spec: {
        source: { repoURL: 'registry-1.docker.io/bitnamicharts', chart: 'redis', targetRevision: '20.1.0' },
        destination: { name: 'prod', namespace: 'redis' },
        syncPolicy: { automated: {} },
      },
    } as unknown as KubeObject;
    const { config, unmapped } = importArgoCd([{ file: 'apps/redis.yaml', objects: [app] }]);
    expect(config.apps[0]).toMatchObject({
      helm: { repo: 'oci://registry-1.docker.io/bitnamicharts', name: 'redis', version: '20.1.0' },
    });
    expect(unmapped).toContainEqual(
      expect.objectContaining({ source: 'Application/redis (apps/redis.yaml)', field: 'helm.digest' }),
    );
  });

  it('lists a template it cannot fill and a cluster generator with no cluster Secrets', () => {
    const { config, unmapped } = importArgoCd([
      file('a.yaml', appSet('    - list:\n        elements: [{ name: x }]')),
      file('b.yaml', appSet('    - clusters: {}').replace('name: guestbook', 'name: every')),
    ]);
    expect(config.apps).toEqual([]);
    expect(unmapped.map((u) => `${u.source} ${u.field}`)).toEqual([
      'ApplicationSet/guestbook (a.yaml) spec.template',
      'ApplicationSet/every (b.yaml) spec.generators[0].clusters',
    ]);
    expect(unmapped[0]!.why).toContain('(cluster)');
  });
});
