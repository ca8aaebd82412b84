import { isSluiceError } from '../errors.ts';
import type { DeploymentRecord, DeploymentUpdate, Ledger } from '../ports/index.ts';

const HISTORY_LIMIT = 50;

const STATE_ORDER = { Pending: 0, Progressing: 1, Healthy: 2, Failed: 2, RolledBack: 3, Removed: 3 } as const;

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
    ...(u.commitSignature ? { commitSignature: u.commitSignature } : {}),
  };
  const lastKnownGood =
    u.state === 'Healthy' || u.state === 'RolledBack'
      ? {
          commit: u.commit,
          digest: u.digest,
          bundleKey: u.bundleKey,
          generation: u.generation,
          at: u.at,
          ...(u.commitSignature ? { commitSignature: u.commitSignature } : {}),
        }
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
    ...(u.commitSignature ? { commitSignature: u.commitSignature } : {}),
    updatedAt: u.at,
    history: [...(current?.history ?? []), entry].slice(-HISTORY_LIMIT),
    ...(lastKnownGood ? { lastKnownGood } : {}),
    version: (current?.version ?? 0) + 1,
  };
};

/**
 * The newest of several records of one (app, target) — one per repo that deploys it — for a
 * caller that names no repo (`sluice status --app`, an old caller). Undefined when there is none.
 */
export const newestRecord = (records: readonly DeploymentRecord[]): DeploymentRecord | undefined =>
  records.reduce<DeploymentRecord | undefined>(
    (newest, r) => (newest === undefined || r.updatedAt > newest.updatedAt ? r : newest),
    undefined,
  );

/**
 * The branch name under which a repo's generation counter is kept. Git forbids `*` in a branch
 * name, so no push can ever name (and so move) it.
 */
export const REPO_GENERATION_BRANCH = '*';

/**
 * Takes the next generation of `repo`: above the repo's counter and above `floor` (the branch's
 * own last generation, which may predate the counter). Generations are then ordered per repo, not
 * per branch, so a release of one deploy branch can never shadow a later one of another, and the
 * ledger and the agent compare generations only within one (repo, app, target). Concurrent
 * planners of two branches race on the counter's version; the loser reads again.
 */
export const reserveGeneration = async (
  ledger: Pick<Ledger, 'getBranch' | 'putBranch'>,
  repo: string,
  floor: number,
  at: string,
): Promise<number> => {
  for (let attempt = 1; ; attempt++) {
    const counter = await ledger.getBranch(repo, REPO_GENERATION_BRANCH);
    const generation = Math.max(counter?.generation ?? 0, floor) + 1;
    try {
      await ledger.putBranch(
        { repo, branch: REPO_GENERATION_BRANCH, lastPlanned: '', generation, plannedAt: at },
        counter?.version ?? 0,
      );
      return generation;
    } catch (error) {
      if (!isSluiceError(error) || error.code !== 'CONFLICT' || attempt >= 5) throw error;
    }
  }
};
