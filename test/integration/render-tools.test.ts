import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { FileRenderCache } from '../../shared/adapters/local/render-cache.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { parseFleetConfig } from '../../shared/core/config.ts';
import { renderApp, renderSpecFor } from '../../shared/core/render.ts';
import { renderCached } from '../../shared/core/render-cache.ts';
import type { RenderSpec } from '../../shared/schemas/events.ts';

const renderer = createToolRenderer({ timeoutMs: 30_000 });
let repo: string;

const write = async (file: string, text: string) => {
  await mkdir(path.dirname(path.join(repo, file)), { recursive: true });
  await writeFile(path.join(repo, file), text);
};

const spec = (over: Partial<RenderSpec>): RenderSpec => ({
  app: 'web',
  path: 'apps/web',
  values: {},
  disabledPolicies: [],
  sync: { prune: true, selfHeal: false },
  ...over,
});

const FLEET = `apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - { name: prod-use1, cloud: aws, region: us-east-1, labels: { env: prod }, cluster: { kind: eks, name: eks-prod-1 } }
apps:
  - name: web
    path: apps/web
    targetValues: true
    environments: { prod: { overlay: overlays/prod, values: { tier: gold } } }
    targets: {}
  - name: chart
    path: apps/chart
    targetValues: true
    environments: { prod: { valueFiles: [values-prod.yaml], values: { image.tag: "2.0" } } }
    targets: {}
`;

beforeAll(async () => {
  repo = await mkdtemp(path.join(tmpdir(), 'sluice-render-tools-'));
  await write('sluice.yaml', FLEET);
  await write('apps/web/base/kustomization.yaml', 'resources: [deploy.yaml]\n');
  await write(
    'apps/web/base/deploy.yaml',
    `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  template:
    spec:
      containers:
        - name: web
          image: acme/web:1.0.0
          env:
            - { name: REGION, value: "\${target.region}" }
            - { name: TIER, value: "\${values.tier}" }
`,
  );
  await write('apps/web/overlays/prod/kustomization.yaml', 'resources: [../../base]\nnamePrefix: prod-\n');
  await write('apps/chart/Chart.yaml', 'apiVersion: v2\nname: chart\nversion: 0.1.0\n');
  await write('apps/chart/values.yaml', 'image: { repository: acme/api, tag: "1.0" }\nreplicas: 1\n');
  await write('apps/chart/values-prod.yaml', 'replicas: 3\n');
  await write(
    'apps/chart/templates/deploy.yaml',
    `apiVersion: apps/v1
kind: Deployment
metadata: { name: {{ .Release.Name }} }
spec:
  replicas: {{ .Values.replicas }}
  template:
    metadata: { labels: { cluster: {{ .Values.sluice.target.cluster | quote }} } }
    spec:
      containers: [{ name: api, image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}" }]
`,
  );
});

afterAll(async () => {
  await rm(repo, { recursive: true, force: true });
});

describe('rendering with kubectl kustomize and helm template', () => {
  it('builds a kustomize overlay and fills target and environment values into its output', async () => {
    // GIVEN a kustomize app with targetValues and a target in us-east-1
    const tree = createDirectoryTree(repo);
    const config = parseFleetConfig(FLEET);
    // WHEN the app is rendered for that target
    const out = await renderApp(tree, renderSpecFor(config, config.apps[0]!, config.targets[0]!), renderer);
    // THEN kustomize's namePrefix applied and the placeholders hold the target's region and the env value
    expect(out.map((o) => o.object.metadata.name)).toEqual(['prod-web']);
    expect(JSON.stringify(out[0]!.object)).toContain('"value":"us-east-1"');
    expect(JSON.stringify(out[0]!.object)).toContain('"value":"gold"');
    expect(out[0]!.file).toBe('apps/web/overlays/prod/kustomization.yaml');
  });

  it('layers chart values, environment values files, sluice.yaml values and sluice.target.*', async () => {
    // GIVEN a chart in the repo, a prod values file, an image.tag value and targetValues
    const tree = createDirectoryTree(repo);
    const config = parseFleetConfig(FLEET);
    // WHEN it is rendered for the EKS target
    const out = await renderApp(tree, renderSpecFor(config, config.apps[1]!, config.targets[0]!), renderer);
    // THEN each layer wins over the one before, the cluster name reaches the template, and the file is the template
    const deploy = out[0]!.object as unknown as {
      spec: {
        replicas: number;
        template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string }[] } };
      };
    };
    expect(deploy.spec.replicas).toBe(3);
    expect(deploy.spec.template.spec.containers[0]!.image).toBe('acme/api:2.0');
    expect(deploy.spec.template.metadata.labels.cluster).toBe('eks-prod-1');
    expect(out[0]!.file).toBe('apps/chart/templates/deploy.yaml');
  });

  it("shows the tool's own message and the file when a template is broken", async () => {
    // GIVEN a chart whose template calls a function that does not exist
    await write('apps/broken/Chart.yaml', 'apiVersion: v2\nname: broken\nversion: 0.1.0\n');
    await write('apps/broken/templates/cm.yaml', 'kind: ConfigMap\n{{ nosuchfunc }}\n');
    // WHEN it is rendered
    const failure = renderApp(
      createDirectoryTree(repo),
      spec({ app: 'broken', path: 'apps/broken' }),
      renderer,
    );
    // THEN the error names Chart.yaml and quotes helm's own complaint
    await expect(failure).rejects.toThrow(
      /apps\/broken\/Chart\.yaml: helm template failed: .*function "nosuchfunc" not defined/,
    );
  });

  it('refuses an overlay that reaches outside the repository, by path or by symlink', async () => {
    // GIVEN one overlay referring to ../../../.. and another whose resource is a symlink to /etc
    await write('apps/escape/kustomization.yaml', 'resources: [../../../outside]\n');
    await write('apps/link/kustomization.yaml', 'resources: [passwd.yaml]\n');
    await symlink('/etc/passwd', path.join(repo, 'apps/link/passwd.yaml'));
    const tree = createDirectoryTree(repo);
    // WHEN they are rendered
    const byPath = renderApp(tree, spec({ app: 'escape', path: 'apps/escape' }), renderer);
    const byLink = renderApp(tree, spec({ app: 'link', path: 'apps/link' }), renderer);
    // THEN both are refused before kustomize reads anything, naming the culprit
    await expect(byPath).rejects.toThrow(/reference "..\/..\/..\/outside" is outside the repository/);
    await expect(byLink).rejects.toThrow(/apps\/link\/passwd\.yaml.*symlink.*outside the repository/);
  });

  it('serves an unchanged render from the cache and renders again when an input file changes', async () => {
    // GIVEN a file render cache
    const cacheDir = await mkdtemp(path.join(tmpdir(), 'sluice-render-cache-'));
    const deps = { renderer, renderCache: new FileRenderCache(cacheDir) };
    const tree = createDirectoryTree(repo);
    const overlay = spec({
      overlay: 'overlays/prod',
      values: { tier: 'gold' },
      target: { name: 't', cloud: 'aws', region: 'r', cluster: 'c', labels: {} },
    });
    // WHEN the same spec renders twice, then once after the base changes
    const first = await renderCached(deps, tree, overlay);
    const second = await renderCached(deps, tree, overlay);
    await write('apps/web/base/extra.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: extra }\n');
    await write('apps/web/base/kustomization.yaml', 'resources: [deploy.yaml, extra.yaml]\n');
    const third = await renderCached(deps, tree, overlay);
    // THEN the second is a hit with identical objects and the third a miss that sees the new object
    expect([first.cached, second.cached, third.cached]).toEqual([false, true, false]);
    expect(second.objects).toEqual(first.objects);
    expect(third.objects.map((o) => o.object.metadata.name)).toEqual(['prod-extra', 'prod-web']);
    await rm(cacheDir, { recursive: true, force: true });
  });
});
