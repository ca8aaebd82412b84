/**
 * The generated 1,000-app config repo the render and peers benches share: most apps plain YAML,
 * a fifth kustomize overlays over a base, a tenth helm charts; about three objects each
 * (Deployment, Service, ConfigMap).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RenderSpec } from '../../shared/schemas/events.ts';

const KUSTOMIZE_EVERY = 5;
const HELM_EVERY = 10;

export type AppKind = 'directory' | 'kustomize' | 'helm';
export interface CorpusApp {
  readonly spec: RenderSpec;
  readonly kind: AppKind;
  /** The directory a tool is pointed at, relative to the repo root (the overlay for kustomize apps). */
  readonly dir: string;
}

export const deployment = (name: string, image = '1.0.0') => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  replicas: 2
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/${name}:${image}
          resources: { requests: { cpu: 100m, memory: 128Mi }, limits: { cpu: 500m, memory: 256Mi } }
`;
const service = (name: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: { selector: { app: ${name} }, ports: [{ port: 80 }] }\n`;
const configMap = (name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name}-config }\ndata: { LEVEL: info }\n`;

export const kindOf = (i: number): AppKind =>
  i % HELM_EVERY === 1 ? 'helm' : i % KUSTOMIZE_EVERY === 0 ? 'kustomize' : 'directory';

/**
 * Writes `count` apps under `root/apps`. `overlayNamespace`: whether kustomize overlays set
 * `namespace:` themselves (the render bench) or leave it to the tool applying them (the peers
 * bench gives each tool its own namespaces).
 */
export const generateApps = async (
  root: string,
  count: number,
  options: { overlayNamespace: boolean } = { overlayNamespace: true },
): Promise<CorpusApp[]> => {
  const apps: CorpusApp[] = [];
  for (let i = 0; i < count; i += 1) {
    const name = `app-${String(i).padStart(4, '0')}`;
    const dir = `apps/${name}`;
    const put = async (file: string, text: string) => {
      await mkdir(path.dirname(path.join(root, dir, file)), { recursive: true });
      await writeFile(path.join(root, dir, file), text);
    };
    const kind = kindOf(i);
    const spec: RenderSpec = {
      app: name,
      path: dir,
      values: {},
      disabledPolicies: [],
      sync: { prune: true, selfHeal: false },
      kind,
    };
    if (kind === 'kustomize') {
      await put('base/deployment.yaml', deployment(name));
      await put('base/service.yaml', service(name));
      await put('base/kustomization.yaml', 'resources: [deployment.yaml, service.yaml]\n');
      const namespace = options.overlayNamespace ? `namespace: ${name}\n` : '';
      await put(
        'overlays/prod/kustomization.yaml',
        `resources: [../../base]\n${namespace}configMapGenerator: [{ name: ${name}-config, literals: [LEVEL=info] }]\nreplicas: [{ name: ${name}, count: 3 }]\n`,
      );
      spec.overlay = 'overlays/prod';
      apps.push({ spec, kind, dir: `${dir}/overlays/prod` });
    } else if (kind === 'helm') {
      await put('Chart.yaml', `apiVersion: v2\nname: ${name}\nversion: 0.1.0\n`);
      await put('values.yaml', 'replicas: 2\n');
      await put(
        'templates/deployment.yaml',
        deployment('{{ .Release.Name }}').replace('replicas: 2', 'replicas: {{ .Values.replicas }}'),
      );
      await put('templates/service.yaml', service('{{ .Release.Name }}'));
      await put('templates/configmap.yaml', configMap('{{ .Release.Name }}'));
      apps.push({ spec, kind, dir });
    } else {
      await put('deployment.yaml', deployment(name));
      await put('service.yaml', service(name));
      await put('configmap.yaml', configMap(name));
      apps.push({ spec, kind, dir });
    }
  }
  return apps;
};
