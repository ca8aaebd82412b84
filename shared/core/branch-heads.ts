/**
 * Branch heads as the planner sees them, shared between the pushes of one branch: a burst of N
 * pushes to a branch costs one ref listing per moment the planner looks, not one per push. Every
 * push but the newest is superseded, and a listing made after a push was received already says so.
 * Only "superseded" is answered from a shared listing: a push that listing names as the head is
 * listed again, so an intermediate commit of a burst is never planned on a stale answer.
 */
import type { Clock, GitSource } from '../ports/index.ts';

export interface BranchHeads {
  /**
   * The head of `branch` for a push of `commit` received at `since`: from the newest listing that
   * started after the receipt when it names another commit (the push is superseded), else from a
   * new listing.
   */
  headFor(
    repoUrl: string,
    branch: string,
    push: { commit: string; since: Date },
  ): Promise<string | undefined>;
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
    async headFor(repoUrl, branch, push) {
      const key = `${repoUrl}\n${branch}`;
      const known = latest.get(key);
      if (known && known.startedAt >= push.since.getTime() + skewMs) {
        const head = await known.head.catch(() => undefined);
        if (head !== undefined && head !== push.commit) return head;
      }
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
