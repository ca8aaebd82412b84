import { SluiceError } from '../errors.ts';
import type { Clock, DeploymentRecord, GitProvider, Ledger, RolloutTimer } from '../ports/index.ts';
import type { DeploymentFailed, DeploymentRemoved, DeploymentSucceeded } from '../schemas/events.ts';
import { rolledBackOutcome } from './rollback/known-good.ts';
import { wakeOnOutcome } from './rollout.ts';

export interface ReportDeps {
  readonly ledger: Ledger;
  readonly clock: Clock;
  /** Commit statuses back to the Git provider, when one is configured. */
  readonly provider?: GitProvider;
  /**
   * Who may report each target's outcome. When set, an outcome whose envelope account is not the
   * target's owner is refused; unset (the in-process pipeline) accepts every outcome.
   */
  readonly owners?: TargetOwners;
  /** Progressive delivery: an outcome wakes the target's rollout (its wave may be Healthy now). */
  readonly timer?: RolloutTimer;
}

/** The account that owns each target: the regional stack serving it (sluice.deploy.yaml regions[]). */
export interface TargetOwners {
  /** By target name (regions[].targets). */
  readonly targets: Readonly<Record<string, string>>;
  /** By region, for targets no stack names: the region's only regional stack. */
  readonly regions: Readonly<Record<string, string>>;
}

/**
 * Where an outcome came from, as EventBridge stamped its envelope: `account` is the account that
 * called PutEvents (kept when a rule forwards the event), which the sender cannot choose.
 */
export interface OutcomeOrigin {
  readonly account?: string;
  readonly region?: string;
}

/**
 * Owners from the agent queue map the stacks give dispatch (SLUICE_AGENT_QUEUES): a queue URL
 * `https://sqs.<region>.amazonaws.com/<account>/<name>` names the account whose agent serves it.
 */
export const ownersFromAgentQueues = (queues: {
  readonly targets: Readonly<Record<string, string>>;
  readonly regions: Readonly<Record<string, string>>;
}): TargetOwners => {
  const accountOf = (url: string): string => /\/(\d{12})\//.exec(url)?.[1] ?? '';
  const map = (m: Readonly<Record<string, string>>) =>
    Object.fromEntries(Object.entries(m).map(([k, url]) => [k, accountOf(url)]));
  return { targets: map(queues.targets), regions: map(queues.regions) };
};

/**
 * Refuses an outcome that does not come from the account owning its target: an agent in one
 * account can then never mark another account's target Healthy (a last known good) or Failed.
 * Targets no stack names belong to the only regional stack of the envelope's region.
 */
export const checkOutcomeOrigin = (owners: TargetOwners, target: string, origin: OutcomeOrigin): void => {
  const owner =
    owners.targets[target] ?? (origin.region === undefined ? undefined : owners.regions[origin.region]);
  if (owner !== undefined && owner !== '' && owner === origin.account) return;
  const from = `account ${origin.account ?? '(none)'}${origin.region ? ` in ${origin.region}` : ''}`;
  throw new SluiceError(
    'REJECTED',
    owner === undefined
      ? `outcome for target "${target}" from ${from} refused: no regional stack serves "${target}". Fix: add it to the targets of its regions[] entry in sluice.deploy.yaml and redeploy the management stack`
      : `outcome for target "${target}" from ${from} refused: only account ${owner} (the regional stack serving it) may report it. Fix: report from that account's agent, or move "${target}" to this account's regions[] entry in sluice.deploy.yaml`,
    { data: { target, account: origin.account, region: origin.region, owner } },
  );
};

/** Records an agent's outcome in the ledger; Healthy becomes the target's last known good. */
export const recordOutcome = async (
  deps: ReportDeps,
  outcome: { kind: 'succeeded'; detail: DeploymentSucceeded } | { kind: 'failed'; detail: DeploymentFailed },
  origin: OutcomeOrigin = {},
): Promise<DeploymentRecord> => {
  const d = outcome.detail;
  if (deps.owners) checkOutcomeOrigin(deps.owners, d.target, origin);
  const failure =
    outcome.kind === 'failed' ? `${outcome.detail.reason}: ${outcome.detail.message}` : undefined;
  const current = await deps.ledger.getDeployment(d.app, d.target, d.repo);
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
    // Who signed the commit, as dispatch recorded it: a rollback to this release re-deploys it attributed.
    ...(current?.commitSignature && current.generation === d.generation && current.commit === d.commit
      ? { commitSignature: current.commitSignature }
      : {}),
    at: d.occurredAt,
  });
  if (!d.rollbackOf) await wakeOnOutcome(deps, d);
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

/** Records that the agent removed an app from a target: the ledger says Removed, at the removing commit. */
export const recordRemoval = async (
  deps: ReportDeps,
  d: DeploymentRemoved,
  origin: OutcomeOrigin = {},
): Promise<DeploymentRecord> => {
  if (deps.owners) checkOutcomeOrigin(deps.owners, d.target, origin);
  const current = await deps.ledger.getDeployment(d.app, d.target, d.repo);
  const record = await deps.ledger.recordDeployment({
    app: d.app,
    target: d.target,
    repo: d.repo,
    branch: d.branch,
    commit: d.commit,
    generation: d.generation,
    // What was deployed last stays named; the removal's own digest names nothing stored.
    digest: current?.digest ?? d.digest,
    bundleKey: current?.bundleKey ?? '',
    traceId: d.traceId,
    state: 'Removed',
    reason: `${d.reason}: ${d.removed} object(s) deleted`,
    at: d.occurredAt,
  });
  if (deps.provider && record.generation === d.generation) {
    await deps.provider.setStatus({
      repo: d.repo,
      commit: d.commit,
      context: `sluice/${d.app}@${d.target}`,
      state: 'success',
      description: `Removed: ${d.removed} object(s) deleted`,
    });
  }
  return record;
};
