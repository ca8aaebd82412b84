/**
 * The record of every event, read back: a push's story (`sluice trace`) and, per (app, target),
 * the newest commit planned for it with its outcome (`sluice status`). Pure: the same functions
 * fold the local event log and decide what the AWS record function writes, so both hosts agree.
 */
import type { BranchOutcome, DeploymentRecord, PlannedOutcome } from '../ports/index.ts';
import type { Envelope, EventDetail } from '../schemas/events.ts';

type Detail = {
  commit?: string;
  traceId?: string;
  supersededBy?: string;
  revertCommit?: string;
  occurredAt?: string;
};
const detailOf = (e: Envelope): Detail => (e.detail ?? {}) as Detail;

/** When the event happened: the producer's `occurredAt` (ms), else the envelope's time (s). */
export const eventTime = (e: Envelope): string => detailOf(e).occurredAt ?? e.time;

/** Oldest first; ties keep their order. */
export const sortEvents = (events: readonly Envelope[]): Envelope[] =>
  events
    .map((e, i) => ({ e, i, t: Date.parse(eventTime(e)) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map(({ e }) => e);

/**
 * Every commit an event is about: its own, the newer commit that superseded it, and the revert
 * commit a rollback wrote. `sluice trace` finds the event by any of them.
 */
export const commitsOf = (e: Envelope): string[] => {
  const d = detailOf(e);
  return [...new Set([d.commit, d.supersededBy, d.revertCommit].filter((c): c is string => !!c))];
};

/**
 * A push's story: every event for the commit, plus every event of the same traces (a push
 * superseded by this commit, the deployments it led to), in order.
 */
export const traceCommit = (events: readonly Envelope[], sha: string): Envelope[] => {
  const direct = events.filter((e) => commitsOf(e).some((c) => c.startsWith(sha)));
  const traces = new Set(direct.map((e) => detailOf(e).traceId).filter((t): t is string => t !== undefined));
  return sortEvents(events.filter((e) => direct.includes(e) || traces.has(detailOf(e).traceId ?? '')));
};

/** How far a commit got for one (app, target); a later stage of the same generation wins. */
const RANK: Record<string, number> = {
  Planned: 1,
  Rendered: 2,
  Dispatched: 3,
  'Policy Rejected': 4,
  'Release Rejected': 4,
  'Render Failed': 4,
  Refused: 4,
  Healthy: 5,
  Failed: 5,
  'Rolled Back': 6,
  'Rollback Failed': 6,
  'Removal Requested': 3,
  Removed: 5,
};

const short = (sha: string) => sha.slice(0, 7);

/** What one event says about the newest planned commit of each (app, target) it names. */
export const plannedUpdates = (e: Envelope): PlannedOutcome[] => {
  const type = e['detail-type'];
  const at = eventTime(e);
  const entry = (
    d: { repo: string; branch: string; commit: string; traceId: string; generation: number },
    app: string,
    target: string,
    outcome: string,
    reason?: string,
  ): PlannedOutcome => ({
    app,
    target,
    repo: d.repo,
    branch: d.branch,
    commit: d.commit,
    traceId: d.traceId,
    generation: d.generation,
    outcome,
    ...(reason ? { reason } : {}),
    at,
  });
  switch (type) {
    case 'Release Planned': {
      const d = e.detail as EventDetail<'Release Planned'>;
      return d.releases.flatMap((r) => r.targets.map((t) => entry(d, r.spec.app, t.name, 'Planned')));
    }
    case 'Bundle Verified': {
      const d = e.detail as EventDetail<'Bundle Verified'>;
      return d.targets.map((t) => entry(d, d.app, t.name, 'Rendered'));
    }
    case 'Policy Rejected': {
      const d = e.detail as EventDetail<'Policy Rejected'>;
      const first = d.violations[0];
      const reason = `${d.violations.length} policy violation(s)${first ? `: ${first.policy} ${first.object}: ${first.message}` : ''}`;
      return d.targets.map((t) => entry(d, d.app, t, 'Policy Rejected', reason));
    }
    case 'Release Rejected': {
      const d = e.detail as EventDetail<'Release Rejected'>;
      return d.targets.map((t) => entry(d, d.app, t, 'Release Rejected', `${d.reason}: ${d.message}`));
    }
    case 'Render Failed': {
      const d = e.detail as EventDetail<'Render Failed'>;
      return d.targets.map((t) => entry(d, d.app, t, 'Render Failed', d.error.message));
    }
    case 'Apply Requested': {
      const d = e.detail as EventDetail<'Apply Requested'>;
      return d.rollbackOf ? [] : [entry(d, d.app, d.target.name, 'Dispatched')];
    }
    case 'Deployment Succeeded': {
      const d = e.detail as EventDetail<'Deployment Succeeded'>;
      return [
        d.rollbackOf
          ? entry(
              { ...d, commit: d.rollbackOf },
              d.app,
              d.target,
              'Rolled Back',
              `back to ${short(d.commit)}`,
            )
          : entry(d, d.app, d.target, 'Healthy'),
      ];
    }
    case 'Deployment Failed': {
      const d = e.detail as EventDetail<'Deployment Failed'>;
      const reason = `${d.reason}: ${d.message}`;
      return [
        d.rollbackOf
          ? entry({ ...d, commit: d.rollbackOf }, d.app, d.target, 'Rollback Failed', reason)
          : entry(d, d.app, d.target, 'Failed', reason),
      ];
    }
    case 'Deployment Skipped': {
      const d = e.detail as EventDetail<'Deployment Skipped'>;
      return [entry(d, d.app, d.target, 'Refused', `${d.reason}: ${d.message}`)];
    }
    case 'Removal Requested': {
      const d = e.detail as EventDetail<'Removal Requested'>;
      return [entry(d, d.app, d.target.name, 'Removal Requested', d.reason)];
    }
    case 'Deployment Removed': {
      const d = e.detail as EventDetail<'Deployment Removed'>;
      return [entry(d, d.app, d.target, 'Removed', `${d.reason}: ${d.removed} object(s) deleted`)];
    }
    default:
      return [];
  }
};

/** The entry to keep for one (app, target): the later generation of a branch, else the later stage. */
export const mergePlanned = (current: PlannedOutcome | undefined, next: PlannedOutcome): PlannedOutcome => {
  if (current === undefined) return next;
  if (current.repo === next.repo && current.branch === next.branch) {
    if (next.generation !== current.generation) return next.generation > current.generation ? next : current;
    return (RANK[next.outcome] ?? 0) >= (RANK[current.outcome] ?? 0) ? next : current;
  }
  return next.at >= current.at ? next : current;
};

const BRANCH_RANK: Record<string, number> = {
  Pushed: 0,
  Planned: 1,
  'No App Changed': 1,
  'Invalid Config': 1,
  'Branch Deleted': 1,
  Untrusted: 1,
  'Not A Deploy Branch': 1,
  'Repo Not Configured': 1,
};

/** What one event says about its branch's newest commit; undefined when it says nothing new. */
export const branchUpdate = (e: Envelope): BranchOutcome | undefined => {
  const type = e['detail-type'];
  const d = e.detail as { repo?: string; branch?: string; commit?: string; traceId?: string };
  if (!d?.repo || !d.branch || !d.commit || !d.traceId) return undefined;
  const base = { repo: d.repo, branch: d.branch, commit: d.commit, traceId: d.traceId, at: eventTime(e) };
  if (type === 'Commit Pushed') {
    const push = e.detail as EventDetail<'Commit Pushed'>;
    return { ...base, outcome: push.deleted ? 'Branch Deleted' : 'Pushed', at: push.receivedAt };
  }
  if (type === 'Release Planned') return { ...base, outcome: 'Planned' };
  if (type === 'Release Skipped') {
    const skip = e.detail as EventDetail<'Release Skipped'>;
    const outcome = {
      'invalid-config': 'Invalid Config',
      'no-app-changed': 'No App Changed',
      'branch-deleted': 'Branch Deleted',
      untrusted: 'Untrusted',
      'branch-not-configured': 'Not A Deploy Branch',
      'repo-not-configured': 'Repo Not Configured',
    }[skip.reason as string];
    // Superseded and already-planned commits are not the branch's newest: the newer one speaks.
    return outcome ? { ...base, outcome, reason: skip.message } : undefined;
  }
  return undefined;
};

export const mergeBranch = (current: BranchOutcome | undefined, next: BranchOutcome): BranchOutcome => {
  if (current === undefined) return next;
  if (current.commit === next.commit) {
    return (BRANCH_RANK[next.outcome] ?? 0) >= (BRANCH_RANK[current.outcome] ?? 0) ? next : current;
  }
  return next.at >= current.at ? next : current;
};

export const plannedKey = (p: { app: string; target: string }) => `${p.app}\n${p.target}`;
export const branchKey = (b: { repo: string; branch: string }) => `${b.repo}\n${b.branch}`;

/** The newest planned commit per (app, target) and per branch, from events in any order. */
export const foldHistory = (
  events: readonly Envelope[],
): { targets: PlannedOutcome[]; branches: BranchOutcome[] } => {
  const targets = new Map<string, PlannedOutcome>();
  const branches = new Map<string, BranchOutcome>();
  for (const e of events) {
    for (const update of plannedUpdates(e)) {
      targets.set(plannedKey(update), mergePlanned(targets.get(plannedKey(update)), update));
    }
    const branch = branchUpdate(e);
    if (branch) branches.set(branchKey(branch), mergeBranch(branches.get(branchKey(branch)), branch));
  }
  return { targets: [...targets.values()], branches: [...branches.values()] };
};

/** One line of `sluice status`: what is deployed and what became of the newest planned commit. */
export interface StatusRow {
  readonly app: string;
  readonly target: string;
  readonly deployed?: DeploymentRecord;
  readonly newest?: PlannedOutcome;
}

export const statusRows = (
  deployments: readonly DeploymentRecord[],
  newest: readonly PlannedOutcome[],
  filter: { app?: string; target?: string } = {},
): StatusRow[] => {
  const rows = new Map<
    string,
    { app: string; target: string; deployed?: DeploymentRecord; newest?: PlannedOutcome }
  >();
  const row = (p: { app: string; target: string }) => {
    const key = plannedKey(p);
    const found = rows.get(key) ?? { app: p.app, target: p.target };
    rows.set(key, found);
    return found;
  };
  for (const d of deployments) row(d).deployed = d;
  for (const p of newest) row(p).newest = p;
  return [...rows.values()]
    .filter(
      (r) =>
        (filter.app ? r.app === filter.app : true) && (filter.target ? r.target === filter.target : true),
    )
    .sort((a, b) => a.app.localeCompare(b.app) || a.target.localeCompare(b.target));
};
