/** What starts a rollback: an alarm in its bake window, a failed deployment, or a person. */
import { BadInputError, isSluiceError } from '../../errors.ts';
import type { Clock, DeploymentRecord, Ledger } from '../../ports/index.ts';
import type { FleetConfig } from '../../schemas/config.ts';
import type {
  DeploymentFailed,
  OutboundEvent,
  RollbackRequested,
  RollbackSkipped,
} from '../../schemas/events.ts';
import { type AlarmStateChange, matchAlarm } from '../alarms.ts';
import { haltRollout, rolloutOf } from '../rollout.ts';
import { claim, loadFleet, publishClaimed, type RollbackDeps, short, skipped } from './deps.ts';

/** The newest deployed commit of every (repo, branch) the ledger knows: where the fleet config lives. */
const deployedBranches = (records: readonly DeploymentRecord[]) => {
  const newest = new Map<string, DeploymentRecord>();
  for (const r of records) {
    const key = `${r.repo}#${r.branch}`;
    const seen = newest.get(key);
    if (!seen || r.generation > seen.generation) newest.set(key, r);
  }
  return [...newest.values()];
};

/**
 * A CloudWatch alarm entered ALARM: every app whose sluice.yaml `alarms` name it (by name, ARN or
 * tag) is rolled back on the mapped targets, if its release there became Healthy no longer than
 * `bakeMinutes` ago. Flaps and simultaneous alarms collapse: one request per bad release.
 */
export const rollbacksForAlarm = async (
  deps: RollbackDeps,
  alarm: AlarmStateChange,
): Promise<OutboundEvent[]> => {
  if (alarm.state !== 'ALARM') return [];
  const records = await deps.ledger.listDeployments();
  const events: OutboundEvent[] = [];
  const keys: string[] = [];
  const at = deps.clock.now().toISOString();
  for (const head of deployedBranches(records)) {
    let fleet: FleetConfig;
    try {
      fleet = await loadFleet(deps, head.repo, head.branch, head.commit);
    } catch (error) {
      if (isSluiceError(error) && !error.retryable) continue;
      throw error;
    }
    for (const match of matchAlarm(fleet, alarm)) {
      const app = match.app;
      // A rollout in progress stops: no further wave starts, and only its targets took the release.
      const key = { repo: head.repo, branch: head.branch, app: app.name };
      let rollout = await rolloutOf(deps.ledger, key);
      if (rollout && rollout.state !== 'Completed' && rollout.state !== 'Halted') {
        rollout = await haltRollout(deps, key, `alarm ${alarm.name} entered ALARM`);
      }
      const inRollout = (r: DeploymentRecord) =>
        !rollout || rollout.state === 'Completed' || r.generation === rollout.generation;
      const mine = records.filter(
        (r) =>
          inRollout(r) &&
          r.repo === head.repo &&
          r.branch === head.branch &&
          r.app === app.name &&
          (match.target === undefined || r.target === match.target),
      );
      const byCommit = new Map<string, { record: DeploymentRecord; targets: string[] }>();
      for (const r of mine) {
        const scope = { ...r, app: app.name };
        const skip = (reason: RollbackSkipped['reason'], message: string) =>
          events.push(skipped(scope, [r.target], reason, `alarm ${alarm.name}: ${message}`, at));
        if (!app.rollback.onAlarm) {
          skip('not-opted-in', `${app.name} has rollback.onAlarm false`);
          continue;
        }
        if (r.rollbackOf || r.state === 'RolledBack') {
          skip('already-rolled-back', `${app.name}@${r.target} is already rolled back`);
          continue;
        }
        const healthy = r.history.find((e) => e.generation === r.generation && e.state === 'Healthy');
        const started = r.history.find((e) => e.generation === r.generation)?.at ?? r.updatedAt;
        const bakeMs = app.bakeMinutes * 60_000;
        if (
          !healthy ||
          alarm.at.getTime() < Date.parse(started) ||
          alarm.at.getTime() - Date.parse(healthy.at) > bakeMs
        ) {
          skip(
            'outside-bake-window',
            healthy
              ? `the release ${short(r.commit)} became Healthy at ${healthy.at}; the alarm at ${alarm.at.toISOString()} is outside its ${app.bakeMinutes}-minute bake window`
              : `the release ${short(r.commit)} on ${r.target} is ${r.state}, not Healthy`,
          );
          continue;
        }
        const key = `alarm:${r.repo}:${r.app}@${r.target}:${r.generation}`;
        if (!(await claim(deps, key))) {
          skip('duplicate', `a rollback of ${short(r.commit)} on ${r.target} was already requested`);
          continue;
        }
        keys.push(key);
        const group = byCommit.get(r.commit) ?? { record: r, targets: [] };
        group.targets.push(r.target);
        byCommit.set(r.commit, group);
      }
      for (const { record, targets } of byCommit.values()) {
        events.push({
          detailType: 'Rollback Requested',
          detail: {
            schemaVersion: 1,
            traceId: record.traceId,
            repo: record.repo,
            branch: record.branch,
            commit: record.commit,
            occurredAt: at,
            app: app.name,
            targets: targets.sort(),
            trigger: 'alarm',
            alarm: { name: alarm.name, ...(alarm.arn ? { arn: alarm.arn } : {}) },
            reason: `alarm ${alarm.name} entered ALARM${alarm.reason ? `: ${alarm.reason}` : ''}`,
          },
        });
      }
    }
  }
  return publishClaimed(deps, events, keys);
};

/** A Deployment Failed (health deadline, apply error) rolls back when the app opts in (`rollback.onFailed`). */
export const rollbackForFailure = async (
  deps: RollbackDeps,
  failed: DeploymentFailed,
): Promise<OutboundEvent[]> => {
  // A failed rollback is reported, never rolled back again.
  if (failed.rollbackOf) return [];
  const fleet = await loadFleet(deps, failed.repo, failed.branch, failed.commit);
  const app = fleet.apps.find((a) => a.name === failed.app);
  if (!app?.rollback.onFailed) return [];
  const events: OutboundEvent[] = [
    {
      detailType: 'Rollback Requested',
      detail: {
        schemaVersion: 1,
        traceId: failed.traceId,
        repo: failed.repo,
        branch: failed.branch,
        commit: failed.commit,
        occurredAt: deps.clock.now().toISOString(),
        app: failed.app,
        targets: [failed.target],
        trigger: 'deployment-failed',
        reason: `deployment failed on ${failed.target}: ${failed.reason}: ${failed.message}`.slice(0, 500),
      },
    },
  ];
  await deps.bus.publish(events);
  return events;
};

/**
 * `sluice rollback --app A [--target T] [--to SHA]`: one request per deployed commit of the app
 * (usually one), for the given target or all of the app's targets.
 */
export const manualRollbackRequests = async (
  ledger: Pick<Ledger, 'listDeployments'>,
  input: { app: string; target?: string; to?: string; by?: string },
  clock: Clock,
): Promise<RollbackRequested[]> => {
  const all = await ledger.listDeployments();
  const records = all.filter((r) => r.app === input.app && (!input.target || r.target === input.target));
  if (records.length === 0) {
    const known = [...new Set(all.map((r) => (input.target ? `${r.app}@${r.target}` : r.app)))];
    throw new BadInputError(
      `--app ${input.app}${input.target ? ` --target ${input.target}` : ''}`,
      'has no deployment in the ledger',
      known.length ? `use one of ${known.join(', ')}` : 'deploy something first',
    );
  }
  const groups = new Map<string, DeploymentRecord[]>();
  for (const r of records) groups.set(r.commit, [...(groups.get(r.commit) ?? []), r]);
  return [...groups.values()].map((group) => {
    const r = group[0] as DeploymentRecord;
    return {
      schemaVersion: 1,
      traceId: r.traceId,
      repo: r.repo,
      branch: r.branch,
      commit: r.commit,
      occurredAt: clock.now().toISOString(),
      app: r.app,
      targets: group.map((g) => g.target).sort(),
      trigger: 'manual',
      ...(input.to ? { toCommit: input.to } : {}),
      reason: `rolled back by hand${input.by ? ` by ${input.by}` : ''}`,
    };
  });
};
