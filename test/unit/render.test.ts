import { describe, expect, it } from 'vitest';
import { parseFleetConfig } from '../../shared/core/config.ts';
import { renderApp, renderSpecFor } from '../../shared/core/render.ts';
import type { SourceTree } from '../../shared/ports/index.ts';
import type { RenderSpec } from '../../shared/schemas/events.ts';

/** An in-memory SourceTree: the port's contract (sorted, repo-relative, recursive list). */
const memoryTree = (files: Record<string, string>): SourceTree => ({
  commit: 'a'.repeat(40),
  root: '/memory',
  list: async (dir) =>
    Object.keys(files)
      .filter((f) => dir === '.' || dir === '' || f.startsWith(`${dir}/`))
      .sort(),
  read: async (path) => files[path],
});

/** A `${values.KEY}` placeholder, spelled so no linter mistakes it for a template. */
const ph = (key: string) => `\${values.${key}}`;

const spec = (over: Partial<RenderSpec> = {}): RenderSpec => ({
  app: 'web',
  path: 'apps/web',
  values: {},
  disabledPolicies: [],
  sync: { prune: true, selfHeal: false },
  ...over,
});

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: web
          image: acme/web:1.0.0
          env:
            - { name: A, value: "1" }
            - { name: B, value: "2" }
          resources: { limits: { cpu: 100m } }
        - name: sidecar
          image: acme/proxy:2.0.0
          args: [--a, --b]
`;

const ident = (objects: { object: { kind: string; metadata: { name: string; namespace?: string } } }[]) =>
  objects.map((o) => `${o.object.kind}/${o.object.metadata.namespace ?? ''}/${o.object.metadata.name}`);

describe('renderApp', () => {
  it('reads every YAML document of a directory app, skipping kustomization.yaml and empty docs', async () => {
    // GIVEN an app declared kind: directory with a multi-document file, an empty doc, a .yml and a kustomization
    const tree = memoryTree({
      'apps/web/all.yaml': `---\napiVersion: v1\nkind: Service\nmetadata: { name: web }\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg }\n`,
      'apps/web/sub/ns.yml': 'apiVersion: v1\nkind: Namespace\nmetadata: { name: web }\n',
      'apps/web/kustomization.yaml': 'resources: [all.yaml]\n',
      'apps/web/README.md': '# not a manifest',
      'apps/other/x.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: other }\n',
    });
    // WHEN rendered with a namespace
    const out = await renderApp(tree, spec({ namespace: 'team', kind: 'directory' }));
    // THEN the Namespace comes first without a namespace, the rest are sorted and namespaced
    expect(ident(out)).toEqual(['Namespace//web', 'ConfigMap/team/cfg', 'Service/team/web']);
    expect(out[0]!.file).toBe('apps/web/sub/ns.yml');
  });

  it('merges an overlay by container and env name, deletes keys with null and replaces other lists', async () => {
    // GIVEN a base Deployment and a prod overlay touching one container, one env var, and args
    const tree = memoryTree({
      'apps/web/base/deploy.yaml': deployment,
      'apps/web/overlays/prod/deploy.yaml': `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: sidecar
          args: [--c]
        - name: web
          image: acme/web:1.1.0
          env:
            - { name: B, value: "20" }
            - { name: C, value: "3" }
          resources: null
`,
      'apps/web/overlays/prod/extra.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: prod-only }\n',
    });
    // WHEN rendered for prod
    const out = await renderApp(tree, spec({ base: 'base', overlay: 'overlays/prod' }));
    // THEN containers keep base order and merge by name; the overlay-only object is added
    const deploy = out.find((o) => o.object.kind === 'Deployment')!;
    const pod = (deploy.object.spec as { template: { spec: { containers: Record<string, unknown>[] } } })
      .template.spec;
    expect((deploy.object.spec as { replicas: number }).replicas).toBe(3);
    expect(pod.containers.map((c) => c.name)).toEqual(['web', 'sidecar']);
    expect(pod.containers[0]).toEqual({
      name: 'web',
      image: 'acme/web:1.1.0',
      env: [
        { name: 'A', value: '1' },
        { name: 'B', value: '20' },
        { name: 'C', value: '3' },
      ],
    });
    expect(pod.containers[1]!.args).toEqual(['--c']);
    expect(deploy.file).toBe('apps/web/base/deploy.yaml');
    expect(deploy.overlayFile).toBe('apps/web/overlays/prod/deploy.yaml');
    expect(out.find((o) => o.object.metadata.name === 'prod-only')?.file).toBe(
      'apps/web/overlays/prod/extra.yaml',
    );
  });

  it('leaves sibling overlays out of the base when the app has no base directory', async () => {
    // GIVEN overlays living inside the app dir, no `base`
    const tree = memoryTree({
      'apps/web/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg }\ndata: { a: "1" }\n',
      'apps/web/overlays/prod/cm.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg }\ndata: { a: "2" }\n',
      'apps/web/overlays/staging/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg }\n',
    });
    // WHEN rendered for prod THEN only the prod overlay applies and nothing is a duplicate
    const out = await renderApp(tree, spec({ overlay: 'overlays/prod' }));
    expect(out.map((o) => o.object.data)).toEqual([{ a: '2' }]);
  });

  it('substitutes values, keeping the type of an unquoted whole-scalar placeholder', async () => {
    // GIVEN placeholders in a string and as a whole scalar
    const tree = memoryTree({
      'apps/web/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg }\ndata:\n  url: "https://${ph('host')}:443/x"\n  count: ${ph('n')}\n  quoted: "${ph('n')}"\n  ${ph('host')}: kept\n`,
    });
    // WHEN rendered with values
    const out = await renderApp(tree, spec({ values: { host: 'api.example.com', n: 3 } }));
    // THEN both are replaced; a quoted placeholder stays a string and keys are left alone
    expect(out[0]!.object.data).toEqual({
      url: 'https://api.example.com:443/x',
      count: 3,
      quoted: '3',
      [ph('host')]: 'kept',
    });
  });

  it('names the file and the key of an unknown value', async () => {
    const tree = memoryTree({
      'apps/web/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg }\ndata:\n  a: "${ph('missing')}"\n`,
    });
    await expect(renderApp(tree, spec({ values: { other: 'x' } }))).rejects.toMatchObject({
      code: 'RENDER_FAILED',
      retryable: false,
      message: expect.stringMatching(
        /apps\/web\/cm\.yaml:5: unknown value "\$\{values\.missing\}".*use one of other/,
      ),
    });
  });

  it('rejects a duplicate identity, naming both files', async () => {
    // GIVEN the same Service in two files (group, kind, namespace and name all equal)
    const svc = 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\n';
    const tree = memoryTree({ 'apps/web/a.yaml': svc, 'apps/web/b.yaml': `# comment\n${svc}` });
    // WHEN rendered THEN the error points at both definitions
    await expect(renderApp(tree, spec())).rejects.toThrow(
      /apps\/web\/b\.yaml:2: Service\/web is defined twice, also in apps\/web\/a\.yaml:1\. Fix: keep one/,
    );
  });

  it('treats the same name in another API group as a different object', async () => {
    const tree = memoryTree({
      'apps/web/a.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\n',
      'apps/web/b.yaml': 'apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: { name: web }\n',
    });
    expect(await renderApp(tree, spec())).toHaveLength(2);
  });

  it('reports a missing metadata.name with file and line', async () => {
    const tree = memoryTree({
      'apps/web/a.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ok }\n---\napiVersion: v1\nkind: Secret\nmetadata: {}\n',
    });
    await expect(renderApp(tree, spec())).rejects.toThrow(
      /apps\/web\/a\.yaml:5: Secret has no metadata\.name\. Fix: add metadata\.name/,
    );
  });

  it.each([
    ['invalid YAML', 'kind: [unclosed\n', /a\.yaml:\d+: is not valid YAML/],
    ['a list document', '- a\n- b\n', /a\.yaml:1: document is a list, not a mapping/],
    ['no kind', 'apiVersion: v1\nmetadata: { name: x }\n', /a\.yaml:1: object has no kind/],
    ['no apiVersion', 'kind: Pod\nmetadata: { name: x }\n', /a\.yaml:1: object has no apiVersion/],
  ])('rejects %s', async (_, text, message) => {
    await expect(renderApp(memoryTree({ 'apps/web/a.yaml': text }), spec())).rejects.toThrow(message);
  });

  it('rejects a missing overlay and an empty app directory', async () => {
    const tree = memoryTree({
      'apps/web/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n',
    });
    await expect(renderApp(tree, spec({ overlay: 'overlays/prod', environment: 'prod' }))).rejects.toThrow(
      /apps\/web\/overlays\/prod: overlay for environment "prod" of app "web" is missing/,
    );
    await expect(renderApp(tree, spec({ path: 'apps/none' }))).rejects.toThrow(
      /apps\/none: app "web" has no YAML manifests/,
    );
  });

  it('is deterministic: file order and key order do not change the output', async () => {
    // GIVEN the same objects with keys and files in a different order
    const a = memoryTree({
      'apps/web/1.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: b }\nspec: { z: 1, a: 2 }\n',
      'apps/web/2.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: a }\n',
    });
    const b = memoryTree({
      'apps/web/1.yaml': 'kind: Service\nmetadata: { name: a }\napiVersion: v1\n',
      'apps/web/2.yaml': 'spec: { a: 2, z: 1 }\nkind: Service\napiVersion: v1\nmetadata: { name: b }\n',
    });
    // WHEN both are rendered THEN the objects serialise identically, sorted by name
    const [ra, rb] = [await renderApp(a, spec()), await renderApp(b, spec())];
    expect(JSON.stringify(ra.map((r) => r.object))).toBe(JSON.stringify(rb.map((r) => r.object)));
    expect(ra.map((r) => r.object.metadata.name)).toEqual(['a', 'b']);
    expect(Object.keys(ra[0]!.object)).toEqual(['apiVersion', 'kind', 'metadata']);
  });
});

describe('renderSpecFor', () => {
  const config = parseFleetConfig(`
apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - { name: prod-a, cloud: aws, region: us-east-1, labels: { env: prod } }
  - { name: prod-b, cloud: aws, region: eu-west-1, labels: { env: prod } }
  - { name: stg, cloud: gcp, region: europe-west4, labels: { env: staging } }
apps:
  - name: api
    path: apps/api
    base: base
    namespace: api
    environments:
      prod: { overlay: overlays/prod, values: { z: 1, a: "x" } }
      staging: { overlay: overlays/staging }
    targets: { matchLabels: {} }
    policies: { disable: [no-latest-tag] }
policies:
  disable: [resources-required, no-latest-tag]
`);
  const app = config.apps[0]!;
  const [prodA, prodB, stg] = config.targets as [
    (typeof config.targets)[0],
    (typeof config.targets)[0],
    (typeof config.targets)[0],
  ];

  it('gives targets that share an environment byte-identical specs', () => {
    // GIVEN two prod targets in different regions WHEN their specs are built
    // THEN they deduplicate by JSON, and a staging target differs
    expect(JSON.stringify(renderSpecFor(config, app, prodA))).toBe(
      JSON.stringify(renderSpecFor(config, app, prodB)),
    );
    expect(JSON.stringify(renderSpecFor(config, app, stg))).not.toBe(
      JSON.stringify(renderSpecFor(config, app, prodA)),
    );
  });

  it('carries the environment, overlay, values, namespace, merged disabled policies and sync', () => {
    expect(renderSpecFor(config, app, prodA)).toEqual({
      app: 'api',
      path: 'apps/api',
      base: 'base',
      environment: 'prod',
      overlay: 'overlays/prod',
      values: { a: 'x', z: 1 },
      namespace: 'api',
      disabledPolicies: ['no-latest-tag', 'resources-required'],
      sync: { prune: true, selfHeal: false },
    });
  });
});
