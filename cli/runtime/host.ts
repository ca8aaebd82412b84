/**
 * What the two pipelines `sluice dev` runs (in process, and on the AWS emulator) take alike: the
 * ports a developer may swap and the directory targets both default to.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { safeJoin } from '../../shared/adapters/safe-path.ts';
import type { RepoCatalog } from '../../shared/core/repos.ts';
import type {
  BundleSigner,
  BundleVerifier,
  Clock,
  ClusterClient,
  GitProvider,
  GitSource,
  GitWriter,
  ManifestRenderer,
  PullRequestOpener,
} from '../../shared/ports/index.ts';
import type { TargetRef } from '../../shared/schemas/events.ts';

export interface HostOptions {
  readonly git: GitSource;
  readonly clock?: Clock;
  /** kubectl kustomize / helm template. @default the layer's binaries, unpacked on first use */
  readonly renderer?: ManifestRenderer;
  /** The cluster client of a target. @default a directory per target (`directoryClusters`) */
  readonly cluster?: (target: string, ref?: TargetRef) => ClusterClient;
  /** Signs what dispatch and rollback hand to agents; agents refuse anything else. @default a per-process key */
  readonly signing?: { signer: BundleSigner; verifier: BundleVerifier };
  /** Commit statuses back to the Git provider. @default none */
  readonly provider?: GitProvider;
  /** Rollback: writes the revert into the config repo. */
  readonly writer?: GitWriter;
  /** Rollback in review mode: opens the pull request. @default none (Revert Failed says so) */
  readonly pullRequests?: PullRequestOpener;
  /** The clone URL of a repository named in events; rollback reads sluice.yaml there. */
  readonly repoUrl?: (repo: string) => string;
  /** The repos and branches that may deploy (plan and ingest refuse others). */
  readonly repos?: RepoCatalog;
  readonly logger?: Logger;
  /** Where the handlers' EMF metrics go. @default nowhere */
  readonly metricsSink?: (emf: Readonly<Record<string, unknown>>) => void;
}

/**
 * One DirectoryCluster per target under `root`, made on first use. A target name comes from
 * sluice.yaml: safeJoin refuses one that would leave `root`.
 */
export const directoryClusters = (root: string): ((target: string) => ClusterClient) => {
  const clusters = new Map<string, ClusterClient>();
  return (target) => {
    let client = clusters.get(target);
    if (client === undefined) {
      client = new DirectoryCluster(safeJoin(root, target));
      clusters.set(target, client);
    }
    return client;
  };
};
