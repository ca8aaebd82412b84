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
 * A ClusterClient whose credentials are fetched at run time from a SecretStore (Secrets Manager
 * in Lambda) on first use and rebuilt after `ttlMs`, so a rotated kubeconfig is picked up. The
 * kubeconfig is never logged or written anywhere.
 */
export class SecretKubeconfigCluster implements ClusterClient {
  readonly #secrets: SecretStore;
  readonly #ref: string;
  readonly #ttlMs: number;
  readonly #options: KubernetesClusterOptions;
  readonly #now: () => number;
  #cached: { cluster: KubernetesCluster; at: number } | undefined;

  constructor(
    secrets: SecretStore,
    ref: string,
    options: KubernetesClusterOptions & { ttlMs?: number; now?: () => number } = {},
  ) {
    this.#secrets = secrets;
    this.#ref = ref;
    this.#ttlMs = options.ttlMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#options = options;
  }

  async #cluster(): Promise<KubernetesCluster> {
    if (this.#cached && this.#now() - this.#cached.at < this.#ttlMs) return this.#cached.cluster;
    const text = await this.#secrets.get(this.#ref);
    const cluster = new KubernetesCluster(KubeHttp.fromText(text, this.#ref), this.#options);
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
