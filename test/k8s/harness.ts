/**
 * What the k8s suites share: an agent wired to the real API server with the least-privilege
 * token (bound to deploy/agent/rbac.yaml's ClusterRole), a file bundle store, a logged event bus,
 * and helpers that play the missing controllers by writing `/status`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KubeHttp } from '../../shared/adapters/k8s/kube-http.ts';
import { KubernetesCluster } from '../../shared/adapters/k8s/kubernetes-cluster.ts';
import { FileBundleStore } from '../../shared/adapters/local/bundle-store.ts';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { MemorySecretStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { type AgentDeps, applyRequested } from '../../shared/core/agent.ts';
import { encodeBundle } from '../../shared/core/bundle.ts';
import type { BundleStore, KubeObject } from '../../shared/ports/index.ts';
import type { ApplyRequested, BundleRef, OutboundEvent, SyncOptions } from '../../shared/schemas/events.ts';
import { AGENT_USER, type KubeEnv, kubeRequest, REPO_ROOT } from '../support/kube.ts';

export const admin = (kube: KubeEnv) => ({
  request: (method: string, path: string, body?: unknown, contentType?: string) =>
    kubeRequest({ ...kube, token: kube.adminToken }, method, path, body, contentType),
});

/** Grants the agent user exactly the ClusterRole an installation grants its ServiceAccount. */
export const grantAgentRbac = async (kube: KubeEnv): Promise<void> => {
  const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy/agent/rbac.yaml'), 'utf8')).map(
    (d) => d.toJSON() as KubeObject & { subjects?: unknown },
  );
  const { request } = admin(kube);
  for (const doc of docs) {
    if (doc.kind === 'ClusterRoleBinding') {
      doc.subjects = [{ kind: 'User', name: AGENT_USER, apiGroup: 'rbac.authorization.k8s.io' }];
      doc.metadata.name = 'sluice-agent-test-user';
    }
    const plural = doc.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
    const res = await request(
      'PATCH',
      `/apis/rbac.authorization.k8s.io/v1/${plural}/${doc.metadata.name}?fieldManager=test-setup&force=true`,
      doc,
      'application/apply-patch+yaml',
    );
    if (res.status >= 300) throw new Error(`RBAC setup failed: ${JSON.stringify(res.json)}`);
  }
};

export const agentCluster = (kube: KubeEnv, options: { maxPruneShare?: number } = {}) =>
  new KubernetesCluster(KubeHttp.fromFile(kube.agentKubeconfig), options);

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;
export const commitOf = (n: number) => n.toString(16).padStart(40, '0');

export interface Harness {
  /** The agent waiting for health in process (no re-check port), as `sluice agent` does. */
  readonly deps: AgentDeps & { readonly rechecks?: undefined };
  readonly bus: LocalEventBus;
  readonly bundles: FileBundleStore;
  readonly secrets: MemorySecretStore;
  readonly eventsFile: string;
  readonly bundleDir: string;
  readonly cluster: KubernetesCluster;
  /** Stores `objects` as a bundle and returns the Apply Requested the dispatcher would send. */
  request(
    app: string,
    objects: readonly KubeObject[],
    generation: number,
    sync?: Partial<SyncOptions>,
  ): Promise<ApplyRequested>;
  deliver(
    app: string,
    objects: readonly KubeObject[],
    generation: number,
    sync?: Partial<SyncOptions>,
  ): Promise<OutboundEvent>;
}

export const harness = (
  kube: KubeEnv,
  options: { healthDeadlineMs?: number; maxPruneShare?: number } = {},
): Harness => {
  const bundleDir = mkdtempSync(join(tmpdir(), 'sluice-k8s-bundles-'));
  const eventsFile = join(bundleDir, 'events.jsonl');
  const bus = new LocalEventBus({ logFile: eventsFile });
  const bundles = new FileBundleStore(bundleDir);
  const secrets = new MemorySecretStore();
  const cluster = agentCluster(kube, options);
  const deps: AgentDeps & { readonly rechecks?: undefined } = {
    bundles,
    cluster: () => cluster,
    secrets,
    bus,
    clock: systemClock,
    healthDeadlineMs: options.healthDeadlineMs ?? 60_000,
    healthPollMs: 200,
  };
  const request = async (
    app: string,
    objects: readonly KubeObject[],
    generation: number,
    sync: Partial<SyncOptions> = {},
  ): Promise<ApplyRequested> =>
    applyRequest(app, await storeBundle(bundles, app, objects, generation), generation, sync);
  return {
    deps,
    bus,
    bundles,
    secrets,
    eventsFile,
    bundleDir,
    cluster,
    request,
    deliver: async (app, objects, generation, sync) =>
      applyRequested(deps, await request(app, objects, generation, sync)),
  };
};

/** Stores `objects` as the bundle a render of generation `generation` would make. */
export const storeBundle = (
  bundles: BundleStore,
  app: string,
  objects: readonly KubeObject[],
  generation: number,
) =>
  bundles.put(
    encodeBundle(
      objects.map((object, i) => ({ object, file: `${app}/${i}.yaml` })),
      { app, commit: commitOf(generation) },
    ),
    { objects: objects.length },
  );

/** The Apply Requested the dispatcher would send for `bundle`. */
export const applyRequest = (
  app: string,
  bundle: BundleRef,
  generation: number,
  sync: Partial<SyncOptions> = {},
): ApplyRequested => ({
  schemaVersion: 1,
  traceId: `trace-${app}-${generation}`,
  repo: 'acme/fleet',
  branch: 'main',
  commit: commitOf(generation),
  occurredAt: new Date().toISOString(),
  generation,
  app,
  target: { name: 'onprem-1', cloud: 'onprem', region: 'local', agent: 'in-cluster' },
  bundle,
  sync: { prune: true, selfHeal: false, ...sync },
});

/** A Node child process (an agent) with its stdout and stderr collected, for kill and log checks. */
export const spawnNode = (args: readonly string[], env: NodeJS.ProcessEnv = process.env) => {
  const child = spawn(process.execPath, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  return {
    child,
    output: () => output,
    exited: new Promise<number | null>((ok) => child.once('exit', (code) => ok(code))),
  };
};

/** ConfigMaps in `ns` that carry Sluice's app label. */
export const countOwnedConfigMaps = async (kube: KubeEnv, ns: string): Promise<number> => {
  const res = await admin(kube).request(
    'GET',
    `/api/v1/namespaces/${ns}/configmaps?labelSelector=sluice.dev%2Fapp`,
  );
  return ((res.json as { items?: unknown[] }).items ?? []).length;
};

export const configMap = (
  ns: string,
  name: string,
  data: Record<string, string> = { k: 'v' },
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data,
});

export const namespace = (name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name },
});

export const deployment = (ns: string, name: string, replicas = 2): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
    },
  },
});

/** API JSON as the tests read it: any shape, checked by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary API objects and assert on them
export type ApiJson = Record<string, any>;

/** GET as admin; undefined on 404. */
export const getObject = async (kube: KubeEnv, path: string): Promise<ApiJson | undefined> => {
  const res = await admin(kube).request('GET', path);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json as ApiJson;
};

/** Plays the deployment controller and kubelets: every replica updated and available. */
export const completeRollout = async (kube: KubeEnv, ns: string, name: string): Promise<void> => {
  const path = `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;
  const live = await getObject(kube, path);
  if (!live) throw new Error(`${path} does not exist`);
  const replicas = live.spec.replicas as number;
  const res = await admin(kube).request(
    'PATCH',
    `${path}/status`,
    {
      status: {
        observedGeneration: live.metadata.generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
        conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }],
      },
    },
    'application/merge-patch+json',
  );
  if (res.status !== 200) throw new Error(`status patch failed: ${JSON.stringify(res.json)}`);
};

/** Waits (bounded) until `probe` holds. */
export const eventually = async (probe: () => Promise<boolean>, what: string): Promise<void> => {
  for (let i = 0; i < 300; i += 1) {
    if (await probe()) return;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
};
