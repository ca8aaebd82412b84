/**
 * Kubeconfig targets of `sluice dev`: `cluster: {kind: kubeconfig, context: NAME}` in sluice.yaml
 * is applied with the operator's own kubeconfig (files resolved as kubectl does, see
 * `kubeconfigFiles` in shared/config/env.ts), through the same KubernetesCluster the agents use.
 *
 * Trust: the repo names a context, never a file or a server, and only a context the operator
 * allowed (`--kube-context`, repeatable; none given: the kubeconfig's current-context only) is
 * used. A repo cannot reach the operator's other clusters by naming their contexts. The
 * kubeconfig's content is never logged or put in an error.
 */
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { SluiceError } from '../../errors.ts';
import type { ClusterClient, Inventory } from '../../ports/index.ts';
import type { TargetRef } from '../../schemas/events.ts';
import { KubeHttp } from './kube-http.ts';
import { KubernetesCluster, type KubernetesClusterOptions } from './kubernetes-cluster.ts';

export interface KubeconfigTargetsOptions extends KubernetesClusterOptions {
  /** The operator's kubeconfig files, merged in order (the first current-context wins). */
  readonly files: readonly string[];
  /** Contexts a repo may name. @default the kubeconfig's current-context only */
  readonly allowedContexts?: readonly string[];
}

/** Loads and merges kubeconfig files as kubectl does; a missing file in a list is skipped. */
const loadMerged = (files: readonly string[]): KubeConfig => {
  const present = files.filter((f) => existsSync(f));
  if (present.length === 0) {
    throw new SluiceError(
      'KUBECONFIG_INVALID',
      `no kubeconfig found (looked at ${files.join(', ')}). Fix: pass --kubeconfig FILE or set KUBECONFIG`,
      { data: { files: [...files] } },
    );
  }
  const merged = new KubeConfig();
  present.forEach((file) => {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (error) {
      // The library's message may quote the file: only the path and our wording go out.
      throw new SluiceError(
        'KUBECONFIG_INVALID',
        `kubeconfig ${file} could not be read. Fix: pass a readable kubeconfig file`,
        { data: { file }, cause: error instanceof Error ? new Error(error.name) : undefined },
      );
    }
    // kubectl: the first file that sets a context, cluster or user wins it.
    for (const c of one.clusters) if (!merged.getCluster(c.name)) merged.addCluster(c);
    for (const u of one.users) if (!merged.getUser(u.name)) merged.addUser(u);
    for (const c of one.contexts) if (!merged.getContextObject(c.name)) merged.addContext(c);
    if (!merged.getCurrentContext() && one.getCurrentContext())
      merged.setCurrentContext(one.getCurrentContext());
  });
  return merged;
};

/** A target whose cluster cannot be used: every call fails with the same non-retryable error. */
class RefusedCluster implements ClusterClient {
  readonly #error: () => SluiceError;
  constructor(error: () => SluiceError) {
    this.#error = error;
  }
  async readInventory(): Promise<Inventory | undefined> {
    throw this.#error();
  }
  async listInventories(): Promise<Inventory[]> {
    throw this.#error();
  }
  async apply(): Promise<never> {
    throw this.#error();
  }
  async readLive(): Promise<never> {
    throw this.#error();
  }
  async previewApply(): Promise<never> {
    throw this.#error();
  }
}

/**
 * The cluster client of each target for a host that serves many targets: kubeconfig targets (as
 * the plan's TargetRef says) get a KubernetesCluster on the allowed context, every other target
 * `fallback` (a directory in `sluice dev`). What a target is, is remembered from the last apply,
 * so a drift check that names only the target reaches the same cluster.
 */
export const kubeconfigTargets = (
  options: KubeconfigTargetsOptions,
  fallback: (target: string) => ClusterClient,
): ((target: string, ref?: TargetRef) => ClusterClient) => {
  let config: KubeConfig | undefined;
  const load = () => {
    config ??= loadMerged(options.files);
    return config;
  };
  const byContext = new Map<string, ClusterClient>();
  const kinds = new Map<string, { kind: string; context?: string }>();

  const clusterFor = (target: string, wanted: string | undefined): ClusterClient => {
    let base: KubeConfig;
    try {
      base = load();
    } catch (error) {
      return new RefusedCluster(() => error as SluiceError);
    }
    const current = base.getCurrentContext();
    const context = wanted ?? current;
    const allowed = options.allowedContexts?.length ? options.allowedContexts : current ? [current] : [];
    if (!context || !allowed.includes(context)) {
      return new RefusedCluster(
        () =>
          new SluiceError(
            'KUBE_CONTEXT_REFUSED',
            `target ${target} names kubeconfig context ${JSON.stringify(context ?? '(none)')}, which the operator did not allow (allowed: ${allowed.join(', ') || 'none'}). Fix: start sluice dev with --kube-context ${context ?? 'NAME'}, or name an allowed context in sluice.yaml`,
            { data: { target, context: context ?? null } },
          ),
      );
    }
    if (!base.getContextObject(context)) {
      return new RefusedCluster(
        () =>
          new SluiceError(
            'KUBE_CONTEXT_REFUSED',
            `target ${target} names kubeconfig context ${JSON.stringify(context)}, which the operator's kubeconfig does not define (it has: ${base.contexts.map((c) => c.name).join(', ') || 'none'}). Fix: name one of those contexts`,
            { data: { target, context } },
          ),
      );
    }
    let client = byContext.get(context);
    if (!client) {
      const one = new KubeConfig();
      one.loadFromOptions({
        clusters: base.clusters,
        users: base.users,
        contexts: base.contexts,
        currentContext: context,
      });
      client = new KubernetesCluster(new KubeHttp(one), options);
      byContext.set(context, client);
    }
    return client;
  };

  return (target, ref) => {
    if (ref?.cluster) kinds.set(target, ref.cluster);
    const known = ref?.cluster ?? kinds.get(target);
    return known?.kind === 'kubeconfig' ? clusterFor(target, known.context) : fallback(target);
  };
};
