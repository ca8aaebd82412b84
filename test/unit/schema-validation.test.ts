import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { fileK8sSchemas } from '../../shared/adapters/local/k8s-schemas.ts';
import { checkLayers, loadPolicyLayers } from '../../shared/core/admission-layers.ts';
import type { RenderedObject } from '../../shared/core/render.ts';
import { checkSchemas, crdsInTree, indexCrds } from '../../shared/core/schema-validation.ts';
import type { KubeObject, KubeSchemas } from '../../shared/ports/index.ts';
import { tempDir } from '../support/dev-harness.ts';

const source = fileK8sSchemas();
const schemas = async (version = '1.34'): Promise<KubeSchemas> => (await source.load(version))!;

const rendered = (object: Record<string, unknown>, file = 'apps/web/deploy.yaml'): RenderedObject => ({
  object: object as unknown as KubeObject,
  file,
});

const deployment = (container: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) =>
  rendered({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'web', creationTimestamp: null, labels: { app: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'web',
              image: 'ghcr.io/acme/web:1.2.3',
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/', port: 'http' } },
              resources: {
                requests: { cpu: 0.1, memory: '128Mi' },
                limits: { cpu: '500m', memory: 268435456 },
              },
              ...container,
            },
          ],
        },
      },
      ...spec,
    },
  });

const check = async (objects: RenderedObject[], crds: KubeObject[] = [], version = '1.34') =>
  checkSchemas(objects, { schemas: await schemas(version), crds: indexCrds(crds) }).map((v) => v.message);

const widgetCrd = (served = true): KubeObject =>
  ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.acme.dev' },
    spec: {
      group: 'acme.dev',
      scope: 'Namespaced',
      names: { kind: 'Widget', plural: 'widgets' },
      versions: [
        {
          name: 'v1',
          served,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  required: ['size'],
                  properties: {
                    size: { type: 'string', enum: ['small', 'large'] },
                    port: { 'x-kubernetes-int-or-string': true },
                    replicas: { type: 'integer', minimum: 1, maximum: 5 },
                    extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                    template: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: {} },
                  },
                },
              },
            },
          },
        },
      ],
    },
  }) as unknown as KubeObject;

const widget = (spec: Record<string, unknown>, apiVersion = 'acme.dev/v1') =>
  rendered(
    { apiVersion, kind: 'Widget', metadata: { name: 'w', namespace: 'web' }, spec },
    'apps/web/widget.yaml',
  );

describe('checkSchemas', () => {
  it('passes well-formed built-in objects, with quantities as numbers and named ports', async () => {
    // GIVEN a Deployment using int-or-string ports, numeric quantities and a null creationTimestamp
    // WHEN validated against 1.34 THEN nothing is reported
    expect(await check([deployment()])).toEqual([]);
  });

  it('reports a wrong type, an unknown field (with the likely name) and a missing required field', async () => {
    // GIVEN replicas as a string, a misspelt container field and no selector
    const objects = [deployment({ imagePullPolice: 'Always' }, { replicas: '3', selector: null })];
    // WHEN validated
    const found = checkSchemas(objects, { schemas: await schemas(), crds: new Map() });
    // THEN each problem names the field path, and the fix says what to write
    expect(found.map((v) => [v.policy, v.object, v.file, v.message])).toEqual([
      [
        'schema',
        'Deployment/web/web',
        'apps/web/deploy.yaml',
        'spec.replicas must be of type integer, not the string "3"',
      ],
      [
        'schema',
        'Deployment/web/web',
        'apps/web/deploy.yaml',
        'spec.template.spec.containers[name=web].imagePullPolice is not a known field (the API server rejects it with strict field validation)',
      ],
      ['schema', 'Deployment/web/web', 'apps/web/deploy.yaml', 'spec.selector is required but missing'],
    ]);
    expect(found.map((v) => v.fix)).toEqual([
      'set spec.replicas to a whole number without quotes',
      'did you mean "imagePullPolicy"? Rename it',
      'add spec.selector',
    ]);
  });

  it('rejects unquoted booleans and numbers where Kubernetes wants strings', async () => {
    // GIVEN a boolean label and a number in a ConfigMap's data
    const objects = [
      rendered({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'c', labels: { on: true } },
        data: { port: 8080 },
      }),
    ];
    // WHEN validated THEN both are reported
    expect(await check(objects)).toEqual([
      'metadata.labels.on must be of type string, not the boolean true',
      'data.port must be of type string, not the number 8080',
    ]);
  });

  it('names the served apiVersion of a kind used with a removed one, per Kubernetes version', async () => {
    // GIVEN an Ingress in extensions/v1beta1 and a DeviceClass in resource.k8s.io/v1 (new in 1.34)
    const ingress = rendered({ apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata: { name: 'i' } });
    const deviceClass = rendered({
      apiVersion: 'resource.k8s.io/v1',
      kind: 'DeviceClass',
      metadata: { name: 'gpu' },
      spec: {},
    });
    // WHEN validated against 1.34 and 1.33
    const on134 = checkSchemas([ingress, deviceClass], { schemas: await schemas('1.34'), crds: new Map() });
    const on133 = await check([deviceClass], [], '1.33');
    // THEN the Ingress fix names networking.k8s.io/v1; the DeviceClass is unknown only on 1.33
    expect(on134.map((v) => v.fix)).toEqual(['use apiVersion networking.k8s.io/v1 for Ingress']);
    expect(on133).toEqual([
      'DeviceClass in apiVersion resource.k8s.io/v1 is not a kind Kubernetes 1.33 serves, and no CustomResourceDefinition in the repo defines it',
    ]);
  });

  it('validates custom resources against their CRD: enum, bounds, int-or-string, preserved and embedded fields', async () => {
    // GIVEN a Widget CRD and Widgets, one good and one with four problems
    const good = widget({
      size: 'small',
      port: 'http',
      replicas: 2,
      extra: { anything: { goes: 1 } },
      template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } },
    });
    const bad = widget({ size: 'huge', port: true, replicas: 9, colour: 'red' });
    // WHEN validated with the CRD in the bundle
    const found = await check([good, bad], [widgetCrd()]);
    // THEN only the bad Widget is reported
    expect(found).toEqual([
      'spec.size the string "huge" is not one of "small", "large"',
      'spec.port must be an integer or a string, not the boolean true',
      'spec.replicas 9 is above the maximum 5',
      'spec.colour is not a known field (the API server rejects it with strict field validation)',
    ]);
  });

  it('reports a custom resource whose CRD is missing (a warning unless strict) or does not serve its version', async () => {
    // GIVEN a Widget with no CRD, and one whose CRD version is not served
    // WHEN validated THEN the first is a warning "not checked", a failure only when strict
    const missing = checkSchemas([widget({ size: 'small' })], { schemas: await schemas(), crds: new Map() });
    expect(missing.map((v) => [v.severity, v.message])).toEqual([
      [
        'warning',
        'Widget in apiVersion acme.dev/v1 is not checked: no CustomResourceDefinition in the repo defines it',
      ],
    ]);
    const strict = checkSchemas([widget({ size: 'small' })], {
      schemas: await schemas(),
      crds: new Map(),
      strictCrds: true,
    });
    expect(strict.map((v) => [v.severity, v.message])).toEqual([
      [
        undefined,
        'Widget in apiVersion acme.dev/v1 is not a kind Kubernetes 1.34 serves, and no CustomResourceDefinition in the repo defines it',
      ],
    ]);
    // AND a kind in a Kubernetes group (a typo, or a kind not served yet) is never only a warning
    const typo = rendered({ apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'd' } });
    const future = rendered({ apiVersion: 'storage.k8s.io/v1', kind: 'Bucket', metadata: { name: 'b' } });
    expect(
      checkSchemas([typo, future], { schemas: await schemas(), crds: new Map() }).map((v) => v.severity),
    ).toEqual([undefined, undefined]);
    expect(await check([widget({ size: 'small' })], [widgetCrd(false)])).toEqual([
      'version acme.dev/v1 of Widget is not served by CustomResourceDefinition widgets.acme.dev',
    ]);
  });
});

describe('schema layer', () => {
  const repo = async (files: Record<string, string>) => {
    const dir = await tempDir('schema');
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), text);
    }
    return createDirectoryTree(dir);
  };
  const crdYaml = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.acme.dev }
spec:
  group: acme.dev
  scope: Namespaced
  names: { kind: Widget, plural: widgets }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, properties: { spec: { type: object, properties: { size: { type: string } } } } } }
`;

  it('finds CRDs kept anywhere in the config repo and skips templates', async () => {
    // GIVEN a CRD under crds/ and a helm template that does not parse as YAML
    const tree = await repo({
      'crds/widget.yaml': crdYaml,
      'charts/x/templates/crd.yaml': 'kind: CustomResourceDefinition\n{{- if .Values.x }}\n',
    });
    // WHEN the tree is scanned THEN the one CRD is found
    expect((await crdsInTree(tree)).map((o) => o.metadata.name)).toEqual(['widgets.acme.dev']);
  });

  it('validates custom kinds against a CRD catalog file (kubectl get crds -o yaml) in the repo', async () => {
    // GIVEN the CRDs a cluster serves, kept as one List, and Widgets good and bad
    const catalog = `apiVersion: v1\nkind: List\nitems:\n${crdYaml
      .trimEnd()
      .split('\n')
      .map((line, i) => `${i === 0 ? '  - ' : '    '}${line}`)
      .join('\n')}\n`;
    const tree = await repo({ 'catalog/crds.yaml': catalog });
    const layers = await loadPolicyLayers({ schemas: source }, tree);
    // WHEN checked THEN the good Widget passes and the unknown field fails, no "not checked"
    const found = await checkLayers(layers, [widget({ size: 'small' }), widget({ colour: 'red' })], {
      disabled: [],
      versions: ['1.34'],
    });
    expect(found.map((v) => [v.severity, v.message])).toEqual([
      [
        undefined,
        'spec.colour is not a known field (the API server rejects it with strict field validation)',
      ],
    ]);
  });

  it('makes a custom kind with no CRD a failure when the fleet sets policies.crds.strict', async () => {
    const fleet = (strict: boolean) =>
      `apiVersion: sluice.dev/v1\nkind: Fleet\ntargets: [{ name: dev, cloud: other, region: local, cluster: { kind: directory } }]\npolicies: { crds: { strict: ${strict} } }\n`;
    for (const strict of [false, true]) {
      const layers = await loadPolicyLayers(
        { schemas: source },
        await repo({ 'sluice.yaml': fleet(strict) }),
      );
      const found = await checkLayers(layers, [widget({ size: 'small' })], {
        disabled: [],
        versions: ['1.34'],
      });
      expect(found.map((v) => v.severity)).toEqual([strict ? undefined : 'warning']);
    }
  });

  it('is switched off by policies.disable: [schema]', async () => {
    // GIVEN a repo whose CRD makes a Widget valid, and a Deployment with a bad field
    const tree = await repo({ 'crds/widget.yaml': crdYaml });
    const layers = await loadPolicyLayers({ schemas: source }, tree);
    const objects = [widget({ size: 'small' }), deployment({ imagePullPolice: 'Always' })];
    // WHEN checked with the layer on and off
    const on = await checkLayers(layers, objects, { disabled: [], versions: ['1.34'] });
    const off = await checkLayers(layers, objects, { disabled: ['schema'], versions: ['1.34'] });
    // THEN only the Deployment is reported, and nothing once disabled
    expect(on.map((v) => v.object)).toEqual(['Deployment/web/web']);
    expect(off).toEqual([]);
  });
});
