/**
 * Missed webhooks: compares each tracked branch's head on the remote (ls-remote through
 * GitSource.head) with the last commit the planner saw for it, and publishes a `Commit Pushed`
 * (provider `reconcile`) for every branch that differs. The planner treats it like any push: it
 * diffs against the last planned commit, so nothing is lost and nothing runs twice. A branch that
 * no longer exists is left alone (its deletion arrives by webhook); a remote that cannot be read is
 * reported and retried on the next round.
 */
import { isSluiceError } from '../errors.ts';
import type { Clock, EventBus, GitSource, Ledger } from '../ports/index.ts';
import { type CommitPushed, commitPushed, SCHEMA_VERSION } from '../schemas/events.ts';
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
  for (const { repo, repoUrl, branch } of tracked) {
    try {
      const head = await deps.git.head(repoUrl, branch);
      if (head === undefined) continue;
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
