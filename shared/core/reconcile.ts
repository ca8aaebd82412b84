/**
 * Missed webhooks: compares each tracked branch's head on the remote (ls-remote through
 * GitSource.head) with the last commit the planner saw for it, and publishes a `Commit Pushed`
 * (provider `reconcile`) for every branch that differs. The planner treats it like any push: it
 * diffs against the last planned commit, so nothing is lost and nothing runs twice. A branch that
 * no longer exists is left alone (its deletion arrives by webhook); a remote that cannot be read is
 * reported and retried on the next round.
 */
import { isSluiceError, UnavailableError } from '../errors.ts';
import type { Clock, EventBus, GitSource, Ledger } from '../ports/index.ts';
import {
  type CommitPushed,
  commitPushed,
  type ReconcileRequested,
  SCHEMA_VERSION,
} from '../schemas/events.ts';
import { ZERO_SHA } from './webhooks/common.ts';

export interface ReconcileDeps {
  readonly git: GitSource;
  readonly ledger: Ledger;
  readonly bus: EventBus;
  readonly clock: Clock;
  readonly newTraceId: () => string;
}

export interface TrackedBranch {
  /** Full name as webhooks name it, e.g. `acme/fleet`. */
  readonly repo: string;
  /** Clone URL; never carries credentials. */
  readonly repoUrl: string;
  readonly branch: string;
  /**
   * A head planning already settled without advancing the ledger (its sluice.yaml is invalid): not
   * published again, or every round would clone and refuse it anew. A new head is.
   */
  readonly settled?: string;
}

export interface ReconcileResult {
  /** Branches whose head differed from the last planned commit, as published. */
  readonly published: CommitPushed[];
  readonly failed: { readonly repo: string; readonly branch: string; readonly error: string }[];
}

export const reconcileBranches = async (
  deps: ReconcileDeps,
  tracked: readonly TrackedBranch[],
): Promise<ReconcileResult> => {
  const published: CommitPushed[] = [];
  const failed: ReconcileResult['failed'] = [];
  for (const { repo, repoUrl, branch, settled } of tracked) {
    try {
      const head = await deps.git.head(repoUrl, branch);
      if (head === undefined || head === settled) continue;
      const planned = await deps.ledger.getBranch(repo, branch);
      if (planned?.lastPlanned === head) continue;
      const at = deps.clock.now().toISOString();
      const detail = commitPushed.parse({
        schemaVersion: SCHEMA_VERSION,
        traceId: deps.newTraceId(),
        repo,
        branch,
        commit: head,
        before: planned?.lastPlanned ?? ZERO_SHA,
        ref: `refs/heads/${branch}`,
        forced: false,
        deleted: false,
        // Stable per head: two rounds that see the same head are one delivery.
        deliveryId: `reconcile:${repo}#${branch}@${head}`.slice(0, 256),
        provider: 'reconcile',
        repoUrl,
        message: 'found by the reconciliation poll (a webhook was missed)',
        occurredAt: at,
        receivedAt: at,
      });
      await deps.bus.publish([{ detailType: 'Commit Pushed', detail }]);
      published.push(detail);
    } catch (error) {
      // Only the message: a git error never carries credentials (the adapters scrub them).
      failed.push({
        repo,
        branch,
        error: isSluiceError(error) || error instanceof Error ? error.message : String(error),
      });
    }
  }
  return { published, failed };
};

/**
 * The branches to poll: every deploy branch of every configured repo (`deployBranchList` of the
 * deployment config's catalog: the clone URL is the configured one, never an event's), minus what
 * the record says planning already settled. `repo`: only that repository (a throttled push).
 */
export const trackedBranches = (
  deploy: readonly { repo: string; repoUrl: string; branch: string }[],
  known: readonly { repo: string; branch: string; commit?: string; outcome?: string }[],
  repo?: string,
): TrackedBranch[] =>
  deploy
    .filter((b) => repo === undefined || b.repo === repo)
    .map((b) => {
      const seen = known.find((k) => k.repo === b.repo && k.branch === b.branch);
      return seen?.outcome === 'Invalid Config' && seen.commit ? { ...b, settled: seen.commit } : { ...b };
    });

export interface ReconcileRequestDeps extends ReconcileDeps {
  /** The branches to poll, all or one repository's (see `trackedBranches`). */
  readonly tracked: (repo?: string) => Promise<readonly TrackedBranch[]>;
}

/**
 * One Reconcile Requested (the schedule, or a throttled push): polls the tracked branches. When
 * every branch failed, a dependency is down (the git server, the ledger): the request is retried.
 * When only some did, the next round retries them.
 */
export const reconcileOnRequest = async (
  deps: ReconcileRequestDeps,
  request: ReconcileRequested,
): Promise<ReconcileResult> => {
  const tracked = await deps.tracked(request.repo);
  const result = await reconcileBranches(deps, tracked);
  if (tracked.length > 0 && result.failed.length === tracked.length) {
    throw new UnavailableError(
      `every tracked branch (${result.failed.map((f) => `${f.repo}#${f.branch}`).join(', ')})`,
      new Error(result.failed[0]?.error ?? 'unknown'),
    );
  }
  return result;
};
