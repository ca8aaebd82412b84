import type { DeploymentRecord, DeploymentUpdate } from '../ports/index.ts';

const HISTORY_LIMIT = 50;

const STATE_ORDER = { Pending: 0, Progressing: 1, Healthy: 2, Failed: 2, RolledBack: 3 } as const;

/**
 * The ledger's one rule, shared by every adapter: a record only moves forward. An older
 * generation is ignored; within a generation a state never goes back (a late Pending after
 * Healthy changes nothing). Healthy makes the release the last known good, and so does
 * RolledBack: the re-deployed known-good bundle is good again. Each history entry keeps what was
 * deployed (digest, bundle key, rollbackOf), so a rollback finds its release without re-rendering.
 */
export const applyUpdate = (current: DeploymentRecord | undefined, u: DeploymentUpdate): DeploymentRecord => {
  if (current) {
    if (u.generation < current.generation) return current;
    if (u.generation === current.generation) {
      if (STATE_ORDER[u.state] < STATE_ORDER[current.state]) return current;
      if (u.state === current.state && u.digest === current.digest) return current;
    }
  }
  const entry = {
    state: u.state,
    at: u.at,
    commit: u.commit,
    generation: u.generation,
    ...(u.reason ? { reason: u.reason } : {}),
    digest: u.digest,
    bundleKey: u.bundleKey,
    ...(u.rollbackOf ? { rollbackOf: u.rollbackOf } : {}),
  };
  const lastKnownGood =
    u.state === 'Healthy' || u.state === 'RolledBack'
      ? { commit: u.commit, digest: u.digest, bundleKey: u.bundleKey, generation: u.generation, at: u.at }
      : current?.lastKnownGood;
  return {
    app: u.app,
    target: u.target,
    repo: u.repo,
    branch: u.branch,
    commit: u.commit,
    generation: u.generation,
    digest: u.digest,
    bundleKey: u.bundleKey,
    traceId: u.traceId,
    state: u.state,
    ...(u.reason ? { reason: u.reason } : {}),
    ...(u.rollbackOf ? { rollbackOf: u.rollbackOf } : {}),
    updatedAt: u.at,
    history: [...(current?.history ?? []), entry].slice(-HISTORY_LIMIT),
    ...(lastKnownGood ? { lastKnownGood } : {}),
    version: (current?.version ?? 0) + 1,
  };
};
