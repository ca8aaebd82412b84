/** Carrying out a Rollback Requested: the known-good bundle re-dispatched under a new generation. */
import { isSluiceError } from '../../errors.ts';
import type { DeploymentRecord } from '../../ports/index.ts';
import type {
  ApplyRequested,
  OutboundEvent,
  RollbackRequested,
  RollbackSkipped,
} from '../../schemas/events.ts';
import { decodeBundle } from '../bundle.ts';
import { requestApply } from '../dispatch.ts';
import { reserveGeneration } from '../ledger.ts';
import { claim, loadFleet, type RollbackDeps, short, skipped } from './deps.ts';
import { type HistoryEntry, knownGoodFor } from './known-good.ts';
import { writeRevert } from './revert.ts';

/**
 * A new generation for the re-dispatch, taken from the repo's counter (so generations stay ordered
 * per repo, across its deploy branches) and noted on the branch so the next plan comes after it.
 */
const allocateGeneration = async (deps: RollbackDeps, repo: string, branch: string, floor: number) => {
  for (let attempt = 0; ; attempt += 1) {
    const state = await deps.ledger.getBranch(repo, branch);
    const generation = await reserveGeneration(
      deps.ledger,
      repo,
      Math.max(state?.generation ?? 0, floor),
      deps.clock.now().toISOString(),
    );
    try {
      await deps.ledger.putBranch(
        {
          repo,
          branch,
          lastPlanned: state?.lastPlanned ?? '',
          plannedAt: state?.plannedAt ?? deps.clock.now().toISOString(),
          generation,
          // Apps the next plan must release again (their render failed) stay noted.
          ...(state?.failedApps ? { failedApps: state.failedApps } : {}),
        },
        state?.version ?? 0,
      );
      return generation;
    } catch (error) {
      if (!isSluiceError(error) || error.code !== 'CONFLICT' || attempt >= 4) throw error;
    }
  }
};

/**
 * Carries out a Rollback Requested: every eligible target gets its last known good bundle again,
 * at once, under one new generation (no re-render, no wait for Git); then the revert is written
 * into the config repo so Git agrees with the clusters.
 */
export const executeRollback = async (
  deps: RollbackDeps,
  request: RollbackRequested,
): Promise<OutboundEvent[]> => {
  const at = () => deps.clock.now().toISOString();
  const fleet = await loadFleet(deps, request.repo, request.branch, request.commit);
  const app = fleet.apps.find((a) => a.name === request.app);
  const events: OutboundEvent[] = [];
  const skip = (targets: string[], reason: RollbackSkipped['reason'], message: string) =>
    events.push(skipped(request, targets, reason, message, at()));
  if (!app) {
    skip(request.targets, 'not-deployed', `${request.app} is not in sluice.yaml at ${short(request.commit)}`);
    await deps.bus.publish(events);
    return events;
  }

  const plans: { record: DeploymentRecord; good: HistoryEntry; key: string }[] = [];
  for (const target of request.targets) {
    const record = await deps.ledger.getDeployment(request.app, target, request.repo);
    if (!record || !fleet.targets.some((t) => t.name === target)) {
      skip([target], 'not-deployed', `${request.app} has no deployment on ${target}`);
    } else if (record.rollbackOf || record.state === 'RolledBack') {
      skip([target], 'already-rolled-back', `${request.app}@${target} is already rolled back (no loops)`);
    } else if (record.commit !== request.commit) {
      skip(
        [target],
        'superseded',
        `${request.app}@${target} now runs ${short(record.commit)}, not ${short(request.commit)}`,
      );
    } else {
      const good = knownGoodFor(record, request.toCommit);
      const key = `rollback:${record.repo}:${record.app}@${target}:${record.generation}`;
      if (!good) {
        skip(
          [target],
          'no-known-good',
          request.toCommit
            ? `no Healthy release of ${request.app}@${target} at ${request.toCommit} in the ledger`
            : `${request.app}@${target} has no earlier Healthy release to return to`,
        );
      } else if (!(await claim(deps, key))) {
        skip(
          [target],
          'duplicate',
          `a rollback of ${short(request.commit)} on ${target} is already under way`,
        );
      } else plans.push({ record, good, key });
    }
  }
  if (events.length > 0) await deps.bus.publish(events);

  if (plans.length > 0) {
    try {
      const generation = await allocateGeneration(
        deps,
        request.repo,
        request.branch,
        Math.max(...plans.map((p) => p.record.generation)),
      );
      // Ledger first for every target, then the hand-offs back to back: all targets at once.
      const requests: ApplyRequested[] = [];
      for (const { record, good } of plans) {
        const ref = { key: good.bundleKey as string, digest: good.digest as string };
        const bytes = await deps.bundles.get(ref);
        const target = fleet.targets.find((t) => t.name === record.target);
        if (!target) continue;
        await deps.ledger.recordDeployment({
          app: record.app,
          target: record.target,
          repo: record.repo,
          branch: record.branch,
          commit: good.commit,
          generation,
          digest: ref.digest,
          bundleKey: ref.key,
          traceId: request.traceId,
          state: 'Pending',
          reason: `${request.reason}; rolled back from ${short(request.commit)} to ${short(good.commit)}`,
          rollbackOf: request.commit,
          ...(good.commitSignature ? { commitSignature: good.commitSignature } : {}),
          at: at(),
        });
        requests.push({
          schemaVersion: 1,
          traceId: request.traceId,
          repo: record.repo,
          branch: record.branch,
          commit: good.commit,
          occurredAt: at(),
          generation,
          app: record.app,
          target: { name: target.name, cloud: target.cloud, region: target.region, agent: target.agent },
          bundle: { ...ref, size: bytes.length, objects: decodeBundle(bytes).objects.length },
          sync: app.sync,
          rollbackOf: request.commit,
          // The known-good release's signer: its objects are attributed to it again.
          ...(good.commitSignature ? { commitSignature: good.commitSignature } : {}),
        });
      }
      await Promise.all(requests.map((r) => requestApply(deps, r)));
    } catch (error) {
      await Promise.all(plans.map((p) => deps.claims.release(p.key)));
      throw error;
    }
  }

  // The revert is written once per (app, bad commit), by whichever request rolled targets back,
  // and only when no target of the app still runs the bad commit: Git speaks for all of them.
  const records = (await deps.ledger.listDeployments()).filter(
    (r) => r.app === request.app && r.repo === request.repo && r.branch === request.branch,
  );
  const good = records.find((r) => r.rollbackOf === request.commit);
  const stillBad = records.filter((r) => r.commit === request.commit).map((r) => r.target);
  if (good) {
    events.push(...(await writeRevert(deps, request, app.path, good.commit, app.rollback.review, stillBad)));
  }
  return events;
};
