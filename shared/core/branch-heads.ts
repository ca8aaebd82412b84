/**
 * Branch heads as the planner sees them, shared between the pushes of one branch: a burst of N
 * pushes to a branch costs one ref listing per moment the planner looks, not one per push. Every
 * push but the newest is superseded, and a listing made after a push was received already says so.
 */
import type { Clock, GitSource } from '../ports/index.ts';

export interface BranchHeads {
  /**
   * The head of `branch`, from a listing that started after `since` (the push's receipt): the
   * newest such listing if one exists, one in flight if it started late enough, else a new one.
   */
  headSince(repoUrl: string, branch: string, since: Date): Promise<string | undefined>;
}

export interface BranchHeadsOptions {
  /**
   * How far the planner's clock may run ahead of the clock that stamped `receivedAt` (another
   * host): a listing counts only when it started this long after the receipt. 0 when one
   * process stamps and plans. @default 1000
   */
  readonly skewMs?: number;
  /** Branches remembered; the oldest are forgotten first. @default 1000 */
  readonly maxBranches?: number;
}

interface Listing {
  readonly startedAt: number;
  readonly head: Promise<string | undefined>;
}

export const branchHeads = (
  git: Pick<GitSource, 'head'>,
  clock: Clock,
  options: BranchHeadsOptions = {},
): BranchHeads => {
  const skewMs = options.skewMs ?? 1000;
  const maxBranches = options.maxBranches ?? 1000;
  const latest = new Map<string, Listing>();
  return {
    headSince(repoUrl, branch, since) {
      const key = `${repoUrl}\n${branch}`;
      const known = latest.get(key);
      if (known && known.startedAt >= since.getTime() + skewMs) return known.head;
      const listing: Listing = { startedAt: clock.now().getTime(), head: git.head(repoUrl, branch) };
      latest.delete(key);
      latest.set(key, listing);
      if (latest.size > maxBranches) latest.delete(latest.keys().next().value!);
      // A failed listing is not remembered: the next push lists again.
      listing.head.catch(() => {
        if (latest.get(key) === listing) latest.delete(key);
      });
      return listing.head;
    },
  };
};
