import type { Clock, DeploymentRecord, GitProvider, Ledger } from '../ports/index.ts';
import type { DeploymentFailed, DeploymentSucceeded } from '../schemas/events.ts';
import { rolledBackOutcome } from './rollback.ts';

export interface ReportDeps {
  readonly ledger: Ledger;
  readonly clock: Clock;
  /** Commit statuses back to the Git provider, when one is configured. */
  readonly provider?: GitProvider;
}

/** Records an agent's outcome in the ledger; Healthy becomes the target's last known good. */
export const recordOutcome = async (
  deps: ReportDeps,
  outcome: { kind: 'succeeded'; detail: DeploymentSucceeded } | { kind: 'failed'; detail: DeploymentFailed },
): Promise<DeploymentRecord> => {
  const d = outcome.detail;
  const failure =
    outcome.kind === 'failed' ? `${outcome.detail.reason}: ${outcome.detail.message}` : undefined;
  const current = await deps.ledger.getDeployment(d.app, d.target);
  const rolledBack = outcome.kind === 'succeeded' ? rolledBackOutcome(current, outcome.detail) : undefined;
  const record = await deps.ledger.recordDeployment({
    app: d.app,
    target: d.target,
    repo: d.repo,
    branch: d.branch,
    commit: d.commit,
    generation: d.generation,
    digest: d.digest,
    bundleKey: current?.digest === d.digest ? current.bundleKey : `bundles/${d.digest.slice(7)}.json`,
    traceId: d.traceId,
    state: rolledBack ? 'RolledBack' : outcome.kind === 'succeeded' ? 'Healthy' : 'Failed',
    ...(failure ? { reason: failure } : {}),
    ...(rolledBack ? { reason: rolledBack.reason, rollbackOf: rolledBack.rollbackOf } : {}),
    at: d.occurredAt,
  });
  if (deps.provider && record.generation === d.generation) {
    await deps.provider.setStatus({
      repo: d.repo,
      // A rollback marks the bad commit, whose release it replaced.
      commit: d.rollbackOf ?? d.commit,
      context: `sluice/${d.app}@${d.target}`,
      state: outcome.kind === 'succeeded' && !d.rollbackOf ? 'success' : 'failure',
      description: (failure
        ? `Failed: ${failure}`
        : rolledBack
          ? `RolledBack: ${rolledBack.reason}`
          : 'Healthy'
      ).slice(0, 140),
    });
  }
  return record;
};
