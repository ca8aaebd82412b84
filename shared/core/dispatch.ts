import type { AgentDispatcher, BundleSigner, Clock, EventBus, Ledger, RolloutTimer } from '../ports/index.ts';
import type { ApplyRequested, BundleVerified } from '../schemas/events.ts';
import { holdForRollout } from './rollout.ts';

export interface DispatchDeps {
  readonly ledger: Ledger;
  readonly agents: AgentDispatcher;
  readonly bus: EventBus;
  readonly clock: Clock;
  /** Signs every bundle handed to an agent, so agents can refuse one the pipeline did not send. */
  readonly signer?: BundleSigner;
  /** Progressive delivery: wakes a rollout whose apply requests dispatch held (shared/core/rollout.ts). */
  readonly timer?: RolloutTimer;
}

/**
 * Hands a verified bundle to the agent of each of its targets. The ledger entry (Pending) comes
 * first; a target whose ledger already holds a newer generation of this repo's app is left alone
 * (generations are compared per (repo, app, target) only: another repo's never shadows it).
 */
export const dispatchBundle = async (
  deps: DispatchDeps,
  verified: BundleVerified,
): Promise<ApplyRequested[]> => {
  const requests: ApplyRequested[] = [];
  const unsent = (target: BundleVerified['targets'][number]): ApplyRequested => ({
    schemaVersion: 1,
    traceId: verified.traceId,
    repo: verified.repo,
    branch: verified.branch,
    commit: verified.commit,
    occurredAt: deps.clock.now().toISOString(),
    generation: verified.generation,
    app: verified.app,
    target,
    bundle: verified.bundle,
    sync: verified.sync,
    ...(verified.commitSignature ? { commitSignature: verified.commitSignature } : {}),
  });
  // An app rolled out in waves: its requests wait in the rollout record for their wave.
  if (await holdForRollout(deps, verified, verified.targets.map(unsent))) return requests;
  for (const target of verified.targets) {
    const current = await deps.ledger.getDeployment(verified.app, target.name, verified.repo);
    if (current && current.generation > verified.generation) continue;
    const at = deps.clock.now().toISOString();
    await deps.ledger.recordDeployment({
      app: verified.app,
      target: target.name,
      repo: verified.repo,
      branch: verified.branch,
      commit: verified.commit,
      generation: verified.generation,
      digest: verified.bundle.digest,
      bundleKey: verified.bundle.key,
      traceId: verified.traceId,
      ...(verified.commitSignature ? { commitSignature: verified.commitSignature } : {}),
      state: 'Pending',
      at,
    });
    const request: ApplyRequested = { ...unsent(target), occurredAt: at };
    await requestApply(deps, request);
    requests.push(request);
  }
  return requests;
};

/** Hands one Apply Requested to its target's agent; a rollback's re-dispatch goes the same way. */
export const requestApply = async (
  deps: Pick<DispatchDeps, 'agents' | 'bus' | 'signer'>,
  unsigned: ApplyRequested,
): Promise<void> => {
  const request: ApplyRequested = deps.signer
    ? {
        ...unsigned,
        bundle: { ...unsigned.bundle, signature: await deps.signer.sign(unsigned.bundle.digest) },
      }
    : unsigned;
  // On the bus first, so `sluice trace` shows the hand-off before the agent's answer.
  await deps.bus.publish([{ detailType: 'Apply Requested', detail: request }]);
  await deps.agents.send(request.target, {
    body: JSON.stringify(request),
    // The repo too: generations are per repo, so two repos' apps of one name may share one.
    dedupId: `${request.repo}:${request.app}:${request.target.name}:${request.generation}:${request.bundle.digest.slice(7, 23)}`,
  });
};
