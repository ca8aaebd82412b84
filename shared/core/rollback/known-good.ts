/** Reading a target's history: what it returns to, and whether a success belongs to a rollback. */
import type { DeploymentRecord } from '../../ports/index.ts';
import type { DeploymentSucceeded } from '../../schemas/events.ts';
import { short } from './deps.ts';

export type HistoryEntry = DeploymentRecord['history'][number];

/**
 * The release a target returns to: the newest Healthy (or rolled-back-to) step older than the
 * current generation whose commit and bundle were never rolled back. With `toCommit`, the newest
 * such step at that commit.
 */
export const knownGoodFor = (record: DeploymentRecord, toCommit?: string): HistoryEntry | undefined => {
  const badCommits = new Set([record.commit, ...record.history.flatMap((e) => e.rollbackOf ?? [])]);
  const badDigests = new Set([
    record.digest,
    ...record.history.filter((e) => badCommits.has(e.commit) && !e.rollbackOf).flatMap((e) => e.digest ?? []),
  ]);
  return record.history.findLast(
    (e) =>
      (e.state === 'Healthy' || e.state === 'RolledBack') &&
      e.generation < record.generation &&
      e.digest !== undefined &&
      e.bundleKey !== undefined &&
      !badCommits.has(e.commit) &&
      !badDigests.has(e.digest) &&
      (toCommit === undefined || e.commit.startsWith(toCommit)),
  );
};

/**
 * How report records a successful apply that is part of a rollback: the re-dispatch itself, or
 * the revert commit's release that brings the same bundle again (Git catching up, not a new
 * release). Undefined for an ordinary release.
 */
export const rolledBackOutcome = (
  current: DeploymentRecord | undefined,
  d: DeploymentSucceeded,
): { rollbackOf: string; reason: string } | undefined => {
  if (d.rollbackOf) {
    const reason = current?.generation === d.generation ? current.reason : undefined;
    return { rollbackOf: d.rollbackOf, reason: reason ?? `rolled back from ${short(d.rollbackOf)}` };
  }
  const previous = current?.history.findLast((e) => e.generation < d.generation);
  if (previous?.state === 'RolledBack' && previous.digest === d.digest && previous.rollbackOf) {
    return {
      rollbackOf: previous.rollbackOf,
      reason: previous.reason ?? `rolled back from ${short(previous.rollbackOf)}`,
    };
  }
  return undefined;
};
