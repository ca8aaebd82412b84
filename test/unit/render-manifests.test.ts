import { describe, expect, it } from 'vitest';
import { objectRef, type RenderedObject, renderApp } from '../../shared/core/render.ts';
import type { SourceTree } from '../../shared/ports/index.ts';
import type { RenderSpec } from '../../shared/schemas/events.ts';
import { specOf } from '../security/render-support.ts';

/** An in-memory SourceTree: sorted, repo-relative, recursive list. */
const memoryTree = (files: Record<string, string>): SourceTree => ({
  commit: 'a'.repeat(40),
  root: '/memory',
  list: async (dir) =>
    Object.keys(files)
      .filter((f) => dir === '.' || f.startsWith(`${dir}/`))
      .sort(),
  read: async (path) => files[path],
});

const render = (files: Record<string, string>, extra: Partial<RenderSpec> = {}) =>
  renderApp(memoryTree(files), specOf('web', 'apps/web', extra));

const refs = (objects: RenderedObject[]) => objects.map((r) => objectRef(r.object));

describe('plain directories as kubectl reads them', () => {
  it('unwraps kind: List and typed lists such as ConfigMapList into their items', async () => {
    // GIVEN a List holding a ConfigMapList and a Service, as `kubectl get -o yaml` writes them
    const files = {
      'apps/web/list.yaml': `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMapList
    items:
      - { apiVersion: v1, kind: ConfigMap, metadata: { name: a } }
      - { apiVersion: v1, kind: ConfigMap, metadata: { name: b } }
  - { apiVersion: v1, kind: Service, metadata: { name: web } }
`,
    };
    // WHEN rendered THEN the items are the objects
    expect(refs(await render(files))).toEqual(['ConfigMap/a', 'ConfigMap/b', 'Service/web']);
  });

  it('reads *.json manifests beside the YAML ones', async () => {
    // GIVEN a JSON manifest WHEN rendered THEN it is an object of the app, its numbers kept
    const files = {
      'apps/web/cm.json':
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "data": {"mode": "0644"}}',
      'apps/web/svc.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\n',
    };
    const out = await render(files);
    expect(refs(out)).toEqual(['ConfigMap/j', 'Service/web']);
    expect(out[0]!.object.data).toEqual({ mode: '0644' });
  });

  it('refuses generateName on an object that is not a hook, saying how to fix it', async () => {
    // GIVEN a Job with generateName and no hook annotation WHEN rendered THEN it fails
    const files = {
      'apps/web/job.yaml': 'apiVersion: batch/v1\nkind: Job\nmetadata: { generateName: run- }\n',
    };
    await expect(render(files)).rejects.toThrow(
      /Job with generateName "run-" has no metadata\.name\. Fix: give it a metadata\.name, or make it a hook/,
    );
  });

  it('never namespaces a custom kind whose CRD elsewhere in the repo is cluster-scoped', async () => {
    // GIVEN a cluster-scoped CRD in another app, and an app with namespace "shop" using it
    const files = {
      'apps/crds/widgets.yaml': `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: clusterwidgets.acme.example.com }
spec:
  group: acme.example.com
  scope: Cluster
  names: { kind: ClusterWidget, plural: clusterwidgets }
  versions: [{ name: v1, served: true, storage: true, schema: { openAPIV3Schema: { type: object } } }]
`,
      'apps/web/objects.yaml': `apiVersion: acme.example.com/v1
kind: ClusterWidget
metadata: { name: global }
---
apiVersion: acme.example.com/v1
kind: Widget
metadata: { name: local }
`,
    };
    // WHEN rendered THEN the cluster-scoped kind has no namespace and the other one gets the app's
    expect(refs(await render(files, { namespace: 'shop' }))).toEqual([
      'ClusterWidget/global',
      'Widget/shop/local',
    ]);
  });
});

describe('Flux-style substitution', () => {
  const manifest = `apiVersion: v1
kind: ConfigMap
metadata: { name: cfg }
data:
  region: \${REGION}
  tier: "\${TIER:=bronze}"
  script: echo $\${HOME} \${REGION}
  home: \${HOME}
`;
  const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: \${REPLICAS}
`;

  it('substitutes ${VAR} and ${VAR:=default}, keeps $${VAR} literal and types an unquoted whole value', async () => {
    // GIVEN an app that opts in with substitute:
    const files = { 'apps/web/cm.yaml': manifest, 'apps/web/deploy.yaml': deployment };
    const substitute = { REGION: 'eu-west-1', REPLICAS: '3', HOME: '/srv' };
    // WHEN rendered
    const [cm, deploy] = await render(files, { substitute });
    // THEN values are substituted as Flux would, and replicas is the number 3
    expect(cm!.object.data).toEqual({
      region: 'eu-west-1',
      tier: 'bronze',
      script: 'echo ${HOME} eu-west-1',
      home: '/srv',
    });
    expect((deploy!.object as unknown as { spec: { replicas: unknown } }).spec.replicas).toBe(3);
  });

  it('fails naming a variable that has neither a value nor a default', async () => {
    // GIVEN substitution without HOME WHEN rendered THEN the render fails naming it
    await expect(render({ 'apps/web/cm.yaml': manifest }, { substitute: { REGION: 'x' } })).rejects.toThrow(
      /apps\/web\/cm\.yaml:8: variable "\$\{HOME\}" has no value and no default\. Fix: add HOME to the app's substitute:/,
    );
  });

  it('leaves ${VAR} literal in an app that did not opt in', async () => {
    // GIVEN no substitute: WHEN rendered THEN the text is as written
    const [cm] = await render({ 'apps/web/cm.yaml': manifest });
    expect(cm!.object.data).toMatchObject({ region: '${REGION}', script: 'echo $${HOME} ${REGION}' });
  });
});
