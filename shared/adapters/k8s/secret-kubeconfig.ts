import type {
  ApplyOptions,
  ApplyResult,
  ClusterClient,
  Inventory,
  KubeObject,
  LiveObject,
  SecretStore,
} from '../../ports/index.ts';
import { KubeHttp } from './kube-http.ts';
import { KubernetesCluster, type KubernetesClusterOptions } from './kubernetes-cluster.ts';

/** Where the Lambda agent finds a target's kubeconfig: a JSON secret with a `kubeconfig` key. */
export const clusterSecretRef = (target: string): string => `aws-sm://sluice/clusters/${target}#kubeconfig`;

/**
 * A ClusterClient whose connection is built at run time by `connect` on first use and rebuilt
 * after `ttlMs`, so rotated credentials (or an expiring EKS token) are picked up.
 */
export class RefreshingCluster implements ClusterClient {
  readonly #connect: () => Promise<KubeHttp>;
  readonly #ttlMs: number;
  readonly #options: KubernetesClusterOptions;
  readonly #now: () => number;
  #cached: { cluster: KubernetesCluster; at: number } | undefined;

  constructor(
    connect: () => Promise<KubeHttp>,
    options: KubernetesClusterOptions & { ttlMs?: number; now?: () => number } = {},
  ) {
    this.#connect = connect;
    this.#ttlMs = options.ttlMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#options = options;
  }

  async #cluster(): Promise<KubernetesCluster> {
    if (this.#cached && this.#now() - this.#cached.at < this.#ttlMs) return this.#cached.cluster;
    const cluster = new KubernetesCluster(await this.#connect(), this.#options);
    this.#cached = { cluster, at: this.#now() };
    return cluster;
  }

  async readInventory(app: string): Promise<Inventory | undefined> {
    return (await this.#cluster()).readInventory(app);
  }

  async listInventories(): Promise<Inventory[]> {
    return (await this.#cluster()).listInventories();
  }

  async apply(app: string, objects: readonly KubeObject[], options: ApplyOptions): Promise<ApplyResult> {
    return (await this.#cluster()).apply(app, objects, options);
  }

  async readLive(objects: readonly KubeObject[]): Promise<(LiveObject | undefined)[]> {
    return (await this.#cluster()).readLive(objects);
  }

  async previewApply(app: string, objects: readonly KubeObject[]) {
    return (await this.#cluster()).previewApply(app, objects);
  }
}

/**
 * A cluster whose kubeconfig is fetched at run time from a SecretStore (Secrets Manager in
 * Lambda), re-read every 5 minutes by default. The kubeconfig is never logged or written anywhere.
 */
export class SecretKubeconfigCluster extends RefreshingCluster {
  constructor(
    secrets: SecretStore,
    ref: string,
    options: KubernetesClusterOptions & { ttlMs?: number; now?: () => number } = {},
  ) {
    super(async () => KubeHttp.fromText(await secrets.get(ref), ref), options);
  }
}
