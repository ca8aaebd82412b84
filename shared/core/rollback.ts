import { BadInputError, ConfigError, isSluiceError } from '../errors.ts';
import type {
  AgentDispatcher,
  BundleSigner,
  BundleStore,
  Clock,
  DeploymentRecord,
  EventBus,
  GitSource,
  GitWriter,
  IdempotencyStore,
  Ledger,
  PullRequestOpener,
} from '../ports/index.ts';
import { CONFIG_FILE, type FleetConfig } from '../schemas/config.ts';
import type {
  ApplyRequested,
  DeploymentFailed,
  DeploymentSucceeded,
  OutboundEvent,
  RollbackRequested,
  RollbackSkipped,
} from '../schemas/events.ts';
import { type AlarmStateChange, matchAlarm } from './alarms.ts';
import { decodeBundle } from './bundle.ts';
import { parseFleetConfig } from './config.ts';
import { requestApply } from './dispatch.ts';

export interface RollbackDeps {
  readonly ledger: Ledger;
  readonly git: GitSource;
  readonly bundles: BundleStore;
  readonly agents: AgentDispatcher;
  readonly bus: EventBus;
  readonly clock: Clock;
  /** Collapses duplicate triggers: one rollback per (app, target, bad generation). */
  readonly claims: IdempotencyStore;
  /** Writes the revert into the config repo; without it the rollback is reported as not written. */
  readonly writer?: GitWriter;
  /** Opens the pull request when an app has `rollback.review`. */
  readonly pullRequests?: PullRequestOpener;
  /** The clone URL of a repository (`acme/fleet`), without credentials. */
  readonly repoUrl: (repo: string) => string;
  /** Signs the re-dispatched bundles, as dispatch does. */
  readonly signer?: BundleSigner;
}

/** Claims outlive any retry of a trigger; the ledger's rollbackOf is the durable guard. */
const CLAIM_TTL_SECONDS = 7 * 24 * 3600;
const short = (sha: string) => sha.slice(0, 7);
type HistoryEntry = DeploymentRecord['history'][number];

const loadFleet = async (deps: RollbackDeps, repo: string, branch: string, commit: string) => {
  const tree = await deps.git.checkout(deps.repoUrl(repo), branch, commit);
  const text = await tree.read(CONFIG_FILE);
  if (text === undefined) {
    throw new ConfigError(CONFIG_FILE, '', `is missing at ${short(commit)}`, 'restore sluice.yaml');
  }
  return parseFleetConfig(text, CONFIG_FILE);
};

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

const skipped = (
  request: Pick<RollbackRequested, 'traceId' | 'repo' | 'branch' | 'commit' | 'app'>,
  targets: string[],
  reason: RollbackSkipped['reason'],
  message: string,
  at: string,
): OutboundEvent => ({
  detailType: 'Rollback Skipped',
  detail: {
    schemaVersion: 1,
    traceId: request.traceId,
    repo: request.repo,
    branch: request.branch,
    commit: request.commit,
    occurredAt: at,
    app: request.app,
    targets,
    reason,
    message,
  },
});

/** Claims `key`, or returns false when an earlier trigger already did. */
const claim = (deps: RollbackDeps, key: string) => deps.claims.claim(key, CLAIM_TTL_SECONDS);

/** Publishes events; a failed publish gives the claims back so the retry is not taken for a duplicate. */
const publishClaimed = async (deps: RollbackDeps, events: OutboundEvent[], keys: string[]) => {
  try {
    if (events.length > 0) await deps.bus.publish(events);
  } catch (error) {
    await Promise.all(keys.map((k) => deps.claims.release(k)));
    throw error;
  }
  return events;
};

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
      const mine = records.filter(
        (r) =>
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

/** A new generation for the re-dispatch, taken from the branch so the next plan comes after it. */
const allocateGeneration = async (deps: RollbackDeps, repo: string, branch: string, floor: number) => {
  for (let attempt = 0; ; attempt += 1) {
    const state = await deps.ledger.getBranch(repo, branch);
    const generation = Math.max(state?.generation ?? 0, floor) + 1;
    try {
      await deps.ledger.putBranch(
        {
          repo,
          branch,
          lastPlanned: state?.lastPlanned ?? '',
          plannedAt: state?.plannedAt ?? deps.clock.now().toISOString(),
          generation,
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
    const record = await deps.ledger.getDeployment(request.app, target);
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

export const revertMessage = (request: RollbackRequested, good: string, paths: readonly string[]): string =>
  [
    `Roll back ${request.app} to ${short(good)}: revert ${short(request.commit)}`,
    '',
    `${request.reason}.`,
    `Sluice re-deployed the last known good release of ${request.app} (${short(good)}) and`,
    `restores ${paths.join(', ')} to it, so Git matches the clusters again.`,
    '',
    `Sluice-Revert-Of: ${request.commit}`,
    ...(request.alarm ? [`Sluice-Alarm: ${request.alarm.name}`] : []),
    `Sluice-Trace: ${request.traceId}`,
  ].join('\n');

const writeRevert = async (
  deps: RollbackDeps,
  request: RollbackRequested,
  appPath: string,
  good: string,
  review: boolean,
  stillBad: string[] = [],
): Promise<OutboundEvent[]> => {
  const key = `revert:${request.repo}:${request.app}:${request.commit}`;
  if (stillBad.length > 0) {
    const event: OutboundEvent = {
      detailType: 'Revert Failed',
      detail: {
        schemaVersion: 1,
        traceId: request.traceId,
        repo: request.repo,
        branch: request.branch,
        commit: request.commit,
        occurredAt: deps.clock.now().toISOString(),
        app: request.app,
        paths: [appPath],
        reason: 'partial',
        message: `${stillBad.join(', ')} still run ${short(request.commit)}, so a revert in Git would roll them back too; none was written. Fix: \`sluice rollback --app ${request.app}\` for every target, or push a fix`,
      },
    };
    await deps.bus.publish([event]);
    return [event];
  }
  if (!(await claim(deps, key))) return [];
  const paths = [appPath];
  const base = {
    schemaVersion: 1 as const,
    traceId: request.traceId,
    repo: request.repo,
    branch: request.branch,
    commit: request.commit,
    app: request.app,
    paths,
  };
  const failed = (message: string, reason: 'conflict' | 'error' = 'error', head?: string): OutboundEvent => ({
    detailType: 'Revert Failed',
    detail: {
      ...base,
      occurredAt: deps.clock.now().toISOString(),
      reason,
      message,
      ...(head ? { head } : {}),
    },
  });
  let event: OutboundEvent;
  try {
    if (!deps.writer) {
      event = failed('no Git writer is configured; revert the commit by hand so Git matches the clusters');
    } else {
      const pushTo = review ? `sluice/revert-${short(request.commit)}-${request.app}` : undefined;
      const message = revertMessage(request, good, paths);
      const result = await deps.writer.revertPaths({
        repoUrl: deps.repoUrl(request.repo),
        branch: request.branch,
        revertOf: request.commit,
        restoreTo: good,
        paths,
        message,
        ...(pushTo ? { pushTo } : {}),
      });
      if (result.status === 'conflict') {
        event = failed(
          `newer commits changed ${result.paths.join(', ')} after ${short(request.commit)} (head ${short(result.head)}); the revert was not written and nothing was forced. Fix: revert ${short(request.commit)} by hand`,
          'conflict',
          result.head,
        );
      } else if (result.status === 'nothing-to-revert') {
        event = failed(
          `${paths.join(', ')} at ${short(result.head)} already match ${short(good)}; nothing to revert`,
          'error',
          result.head,
        );
      } else {
        const pullRequest =
          pushTo && deps.pullRequests
            ? await deps.pullRequests.openPullRequest({
                repo: request.repo,
                base: request.branch,
                head: pushTo,
                title: message.split('\n')[0] as string,
                body: message.split('\n').slice(2).join('\n'),
              })
            : undefined;
        event =
          pushTo && !pullRequest
            ? failed(
                `the revert is on branch ${pushTo} but no Git provider is configured to open the pull request; open it by hand`,
              )
            : {
                detailType: 'Revert Committed',
                detail: {
                  ...base,
                  occurredAt: deps.clock.now().toISOString(),
                  revertCommit: result.commit,
                  ...(pullRequest && pushTo ? { pullRequest: { ...pullRequest, branch: pushTo } } : {}),
                },
              };
      }
    }
  } catch (error) {
    if (!isSluiceError(error) || error.retryable) {
      await deps.claims.release(key);
      throw error;
    }
    event = failed(error.message);
  }
  await deps.bus.publish([event]);
  return [event];
};
