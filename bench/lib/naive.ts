/**
 * Baselines built for the benchmarks only, by wrapping the real GitSource the pipeline uses.
 * Nothing here is reachable from the product.
 */
import type { LocalPipeline } from '../../cli/runtime/local-pipeline.ts';
import type { GitSource } from '../../shared/ports/index.ts';
import type { CommitPushed, Envelope } from '../../shared/schemas/events.ts';

/**
 * A planner without supersession: it is told that the branch head is the very commit it is
 * planning, so every push is planned and released (one release per push, as a tool that
 * syncs on every webhook does). The commit being planned is the oldest in-flight message of the
 * plan queue's group for that repo and branch that has no plan outcome yet: a FIFO batch holds
 * several messages of one group, handled in order.
 */
export const withoutSupersession = (real: GitSource, pipeline: () => LocalPipeline): GitSource => {
  const answered = new Set<string>();
  let seen = 0;
  return {
    ...real,
    head: async (repoUrl, branch) => {
      const events = pipeline().bus.events;
      for (; seen < events.length; seen++) {
        const e = events[seen]!;
        if (e['detail-type'] === 'Release Planned' || e['detail-type'] === 'Release Skipped')
          answered.add((e.detail as { traceId: string }).traceId);
      }
      const now = Date.now();
      const planning = pipeline()
        .queues.get('sluice-plan.fifo')
        ?.peek()
        .filter((m) => m.receiptHandle !== undefined && m.visibleAt > now)
        .map((m) => (JSON.parse(m.body) as Envelope).detail as CommitPushed)
        .find((d) => d.repoUrl === repoUrl && d.branch === branch && !answered.has(d.traceId));
      return planning?.commit ?? real.head(repoUrl, branch);
    },
  };
};

/**
 * A planner blind to paths while `enabled()`: it cannot tell what changed, so every app of the
 * repo is released on every commit (a monorepo tool that refreshes every app on each webhook).
 */
export const pathBlind =
  (enabled: () => boolean) =>
  (real: GitSource): GitSource => ({
    ...real,
    changedPaths: async (...args) => (enabled() ? undefined : real.changedPaths(...args)),
  });
