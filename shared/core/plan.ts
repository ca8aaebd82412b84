import { ConfigError, isSluiceError } from '../errors.ts';
import type { Clock, EventBus, GitProvider, GitSource, Ledger, SourceTree } from '../ports/index.ts';
import { type AppConfig, CONFIG_FILE, type FleetConfig, type TargetConfig } from '../schemas/config.ts';
import type {
  CommitPushed,
  ReleasePlanned,
  ReleaseRejected,
  ReleaseSkipped,
  RemovalRequested,
  RenderSpec,
  TargetRef,
} from '../schemas/events.ts';
import { DEFAULT_DEPLOY_BRANCH } from '../schemas/repos.ts';
import type { BranchHeads } from './branch-heads.ts';
import { appTouchedBy, parseFleetConfig, selectTargets } from './config.ts';
import { reserveGeneration } from './ledger.ts';
import { type TrustDeps, trustedReleases } from './provenance.ts';
import { releaseParts } from './release-parts.ts';
import { removalDigest, removalsFor } from './removal.ts';
import { renderInputs, renderSpecFor } from './render.ts';
import { branchNotConfigured, type DeployRepo, type RepoCatalog, repoNotConfigured } from './repos.ts';
import { dependencyGenerations, dependencyWaves, startRollout, wavesFor } from './rollout.ts';
import { reportInvalidConfig, reportPlanned, reportUntrusted } from './webhooks/commit-status.ts';

export interface PlanDeps {
  readonly git: GitSource;
  readonly ledger: Ledger;
  readonly bus: EventBus;
  readonly clock: Clock;
  /** Commit statuses: pending for each planned (app, target). */
  readonly provider?: GitProvider;
  /**
   * The repos and branches that may deploy, from the deployment config. A push naming another
   * repo is skipped without touching Git; the clone URL is always the configured one. Without it
   * the push's own repo and URL are used and only `main` deploys (tests, old hosts).
   */
  readonly repos?: RepoCatalog;
  /**
   * The trust policy (docs/provenance.md), from outside the repo: each target receives the commit
   * only when its signatures satisfy the target's rule. Absent, nothing is verified.
   */
  readonly trust?: TrustDeps;
  /** Branch heads shared between pushes (a burst costs one listing, not one per push). */
  readonly heads?: BranchHeads;
}

export type PlanOutcome =
  | { readonly kind: 'planned'; readonly event: ReleasePlanned; readonly rejected?: ReleaseRejected[] }
  | { readonly kind: 'skipped'; readonly event: ReleaseSkipped; readonly rejected?: ReleaseRejected[] };

const toTargetRef = (t: TargetConfig): TargetRef => ({
  name: t.name,
  cloud: t.cloud,
  region: t.region,
  agent: t.agent,
  cluster: {
    kind: t.cluster.kind,
    ...(t.cluster.kind === 'kubeconfig' && t.cluster.context ? { context: t.cluster.context } : {}),
  },
});

/** The app's releases for this config: targets grouped by identical render spec (one render each). */
export const releasesFor = (
  config: FleetConfig,
  app: AppConfig,
): { spec: RenderSpec; targets: TargetRef[] }[] => {
  const groups = new Map<string, { spec: RenderSpec; targets: TargetRef[] }>();
  for (const target of selectTargets(app.targets, config.targets)) {
    const spec = renderSpecFor(config, app, target);
    const key = JSON.stringify(spec);
    const group = groups.get(key) ?? { spec, targets: [] };
    group.targets.push(toTargetRef(target));
    groups.set(key, group);
  }
  return [...groups.values()];
};

/**
 * Apps this branch deployed that its config no longer puts on a target: one Removal Requested
 * each, for dispatch to sign and hand to the target's agent (shared/core/removal.ts).
 */
const requestRemovals = async (
  deps: PlanDeps,
  input: {
    push: { repo: string; branch: string };
    common: Omit<
      RemovalRequested,
      'occurredAt' | 'generation' | 'app' | 'target' | 'reason' | 'digest' | 'signature'
    >;
    generation: number;
    now: string;
    config: FleetConfig;
    previousConfig?: FleetConfig;
    considered: boolean;
  },
): Promise<void> => {
  if (!input.considered) return;
  const removals = removalsFor({
    repo: input.push.repo,
    branch: input.push.branch,
    config: input.config,
    ...(input.previousConfig ? { previous: input.previousConfig } : {}),
    deployed: await deps.ledger.listDeployments(),
    toTargetRef,
  });
  if (removals.length === 0) return;
  await deps.bus.publish(
    removals.map((r) => {
      const detail = { ...input.common, occurredAt: input.now, generation: input.generation, ...r };
      return {
        detailType: 'Removal Requested' as const,
        detail: { ...detail, digest: removalDigest(detail) },
      };
    }),
  );
};

const readConfig = async (tree: SourceTree): Promise<FleetConfig> => {
  const text = await tree.read(CONFIG_FILE);
  if (text === undefined) {
    throw new ConfigError(
      CONFIG_FILE,
      '',
      `is missing at the root of commit ${tree.commit.slice(0, 7)}`,
      'add a sluice.yaml (start from examples/fleet/sluice.yaml)',
    );
  }
  return parseFleetConfig(text, CONFIG_FILE);
};

/**
 * A kustomize overlay may build a base outside its app's path, a chart may depend on a chart
 * elsewhere in the repo: when a changed path lies outside every app, the kustomize and helm apps
 * not already affected are asked which files they read (renderInputs). Cheap: nothing is
 * rendered, and nothing runs when every changed path is inside some app.
 */
const appsReadingOutsidePaths = async (
  tree: SourceTree,
  config: FleetConfig,
  affected: readonly AppConfig[],
  changed: readonly string[],
): Promise<AppConfig[]> => {
  const outside = changed.filter(
    (p) => p !== CONFIG_FILE && !config.apps.some((app) => appTouchedBy(app, p)),
  );
  if (outside.length === 0) return [];
  const reads = (inputs: readonly string[]) =>
    outside.some((p) => inputs.some((input) => p === input || p.startsWith(`${input}/`)));
  const found: AppConfig[] = [];
  for (const app of config.apps) {
    if (affected.includes(app) || app.kind === 'directory') continue;
    for (const { spec } of releasesFor(config, app)) {
      // A render that cannot even list its inputs is replanned, so the render stage reports why.
      const inputs = await renderInputs(tree, spec).then(
        (r) => (r.kind === 'directory' ? [] : r.inputs),
        () => undefined,
      );
      if (inputs === undefined || reads(inputs)) {
        found.push(app);
        break;
      }
    }
  }
  return found;
};

/**
 * Plans one pushed commit. Only the branch's current head is planned: an older commit is
 * superseded (this is what coalesces a burst: N pushes, one plan). Only apps whose paths — or
 * whose entry in sluice.yaml — changed since the last planned commit are released.
 */
export const planCommit = async (deps: PlanDeps, push: CommitPushed): Promise<PlanOutcome> => {
  const common = {
    schemaVersion: 1 as const,
    traceId: push.traceId,
    repo: push.repo,
    branch: push.branch,
    commit: push.commit,
  };
  const skip = async (
    reason: ReleaseSkipped['reason'],
    message: string,
    supersededBy?: string,
  ): Promise<PlanOutcome> => {
    const event: ReleaseSkipped = {
      ...common,
      occurredAt: deps.clock.now().toISOString(),
      reason,
      message,
      ...(supersededBy ? { supersededBy } : {}),
    };
    await deps.bus.publish([{ detailType: 'Release Skipped', detail: event }]);
    return { kind: 'skipped', event };
  };

  // Trust first, before anything reaches Git: the repo must be configured and the branch one of
  // its deploy branches. A push to another branch must not advance, or shadow, anything.
  const repo: DeployRepo | undefined = deps.repos
    ? deps.repos.find(push.repo)
    : { name: push.repo, url: push.repoUrl, branches: [DEFAULT_DEPLOY_BRANCH] };
  if (repo === undefined) return skip('repo-not-configured', repoNotConfigured(push.repo));
  if (!repo.branches.includes(push.branch)) {
    return skip('branch-not-configured', branchNotConfigured(repo, push.branch));
  }
  const repoUrl = repo.url;

  if (push.deleted) {
    return skip('branch-deleted', `branch ${push.branch} was deleted; targets keep their last release`);
  }
  const head = deps.heads
    ? await deps.heads.headFor(repoUrl, push.branch, {
        commit: push.commit,
        since: new Date(push.receivedAt),
      })
    : await deps.git.head(repoUrl, push.branch);
  if (head === undefined) {
    return skip('branch-deleted', `branch ${push.branch} no longer exists on ${push.repo}`);
  }
  if (head !== push.commit) {
    return skip('superseded', `a newer commit ${head.slice(0, 7)} is the head of ${push.branch}`, head);
  }

  const branchState = await deps.ledger.getBranch(push.repo, push.branch);
  const last = branchState?.lastPlanned ?? null;
  if (last === push.commit) {
    return skip('already-planned', `commit ${push.commit.slice(0, 7)} was already planned`);
  }
  if (last && (await deps.git.isAncestor(repoUrl, push.branch, push.commit, last))) {
    return skip(
      'already-planned',
      `commit ${push.commit.slice(0, 7)} is older than ${last.slice(0, 7)}, already planned`,
    );
  }

  const tree = await deps.git.checkout(repoUrl, push.branch, push.commit);
  let config: FleetConfig;
  try {
    config = await readConfig(tree);
  } catch (error) {
    // A checkout that refused sluice.yaml itself (or the whole commit) is a bad config too.
    const refused = isSluiceError(error) && error.code === 'RENDER_FAILED' && error.data.refused === true;
    if (isSluiceError(error) && (error.code === 'CONFIG_INVALID' || refused)) {
      await reportInvalidConfig(deps.provider, push, error.message);
      return skip('invalid-config', error.message);
    }
    throw error;
  }
  // sluice.yaml may narrow the deploy branches, never widen them (checked above).
  if (config.branches !== undefined && !config.branches.includes(push.branch)) {
    return skip('branch-not-configured', branchNotConfigured(repo, push.branch, config.branches));
  }

  const changed = await deps.git.changedPaths(repoUrl, push.branch, last, push.commit);
  const previousConfig =
    last && changed?.includes(CONFIG_FILE)
      ? await deps.git
          .checkout(repoUrl, push.branch, last)
          .then(readConfig)
          .catch(() => undefined)
      : undefined;

  const affected = config.apps.filter((app) => {
    if (changed === undefined || last === null) return true;
    // Its last render failed: the change it carried was never released, so release it again.
    if (branchState?.failedApps?.includes(app.name)) return true;
    if (changed.some((p) => appTouchedBy(app, p))) return true;
    if (!changed.includes(CONFIG_FILE)) return false;
    const before = previousConfig?.apps.find((a) => a.name === app.name);
    if (!previousConfig || !before) return true;
    return JSON.stringify(releasesFor(previousConfig, before)) !== JSON.stringify(releasesFor(config, app));
  });
  if (changed !== undefined && last !== null) {
    affected.push(...(await appsReadingOutsidePaths(tree, config, affected, changed)));
  }
  const planned = config.apps
    .filter((app) => affected.includes(app))
    .flatMap((app) => releasesFor(config, app));
  // Provenance: each target keeps the release only if the trust policy accepts the signatures.
  const trusted = deps.trust
    ? await trustedReleases(deps.trust, deps.git, {
        repoUrl,
        branch: push.branch,
        commit: push.commit,
        apps: config.apps,
        targets: config.targets,
        releases: planned,
        lastDeployed: async (app, target) =>
          (await deps.ledger.getDeployment(app, target, push.repo))?.commit ?? null,
      })
    : { releases: planned, refused: [] };
  const releases = trusted.releases;

  const now = deps.clock.now().toISOString();
  // Taken from the repo's counter, so releases of one repo are ordered across its deploy branches.
  const generation = await reserveGeneration(deps.ledger, push.repo, branchState?.generation ?? 0, now);
  await requestRemovals(deps, {
    push,
    common,
    generation,
    now,
    config,
    ...(previousConfig ? { previousConfig } : {}),
    // Only a commit that changes sluice.yaml (or whose diff is unknown) can take an app off a target.
    // With a trust policy, removals are not planned: a deletion would need the signers' consent too.
    considered: !deps.trust && (changed === undefined || changed.includes(CONFIG_FILE)),
  });
  const rejected = trusted.refused.map(
    ({ app, targets, refusal }): ReleaseRejected => ({
      ...common,
      occurredAt: now,
      generation,
      app,
      targets,
      reason: refusal.reason,
      signedCommit: refusal.commit,
      ...(refusal.fingerprint ? { fingerprint: refusal.fingerprint } : {}),
      ...(refusal.signer ? { signer: refusal.signer } : {}),
      message: refusal.message,
    }),
  );
  if (rejected.length > 0) {
    await deps.bus.publish(rejected.map((detail) => ({ detailType: 'Release Rejected' as const, detail })));
    await Promise.all(rejected.map((event) => reportUntrusted(deps.provider, event)));
  }
  let outcome: PlanOutcome;
  if (releases.length === 0 && rejected.length > 0) {
    const skipped = await skip(
      'untrusted',
      `the trust policy refused every target: ${rejected.map((r) => `${r.app}@${r.targets.join(',')}: ${r.message}`).join('; ')}`,
    );
    outcome = { ...skipped, rejected } as PlanOutcome;
  } else if (releases.length === 0) {
    outcome = await skip(
      'no-app-changed',
      changed?.length
        ? `${changed.length} changed path(s), none inside an app (${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', …' : ''})`
        : 'the commit changes no files',
    );
  } else {
    const event: ReleasePlanned = {
      ...common,
      occurredAt: now,
      repoUrl,
      generation,
      previousCommit: last,
      changedPaths: changed?.length ?? 0,
      releases,
      ...('signature' in trusted && trusted.signature ? { commitSignature: trusted.signature } : {}),
    };
    // Progressive delivery: each app with waves starts its rollout before dispatch sees a bundle.
    for (const app of config.apps) {
      const targets = releases
        .filter((r) => r.spec.app === app.name)
        .flatMap((r) => r.targets.map((t) => t.name));
      const waits = app.dependsOn ?? [];
      const waves =
        targets.length === 0
          ? undefined
          : (wavesFor(config, app, targets) ?? (waits.length > 0 ? dependencyWaves(targets) : undefined));
      if (waves) {
        // apps[].dependsOn: each target waits for the apps it depends on, held like a wave's.
        const releasing = releases.map((r) => ({ app: r.spec.app, targets: r.targets.map((t) => t.name) }));
        const dependsOn = waits.length > 0 ? dependencyGenerations(waits, releasing, generation) : undefined;
        await startRollout(deps, {
          ...common,
          app: app.name,
          generation,
          waves,
          ...(dependsOn ? { dependsOn } : {}),
        });
      }
    }
    // Publish before advancing the branch: if the write below fails, the retry publishes the same
    // generation again (downstream is idempotent) instead of losing the release.
    // A plan for more targets than one event carries goes out as several (shared/core/release-parts.ts).
    await deps.bus.publish(
      releaseParts(event).map((detail) => ({ detailType: 'Release Planned' as const, detail })),
    );
    await reportPlanned(deps.provider, event);
    outcome = { kind: 'planned', event, ...(rejected.length > 0 ? { rejected } : {}) };
  }
  // A refused app's change was never released: the next plan releases it again (as for a failed render).
  const refusedApps = [...new Set(rejected.map((r) => r.app))];
  await deps.ledger.putBranch(
    {
      repo: push.repo,
      branch: push.branch,
      lastPlanned: push.commit,
      generation,
      plannedAt: now,
      ...(refusedApps.length > 0 ? { failedApps: refusedApps } : {}),
    },
    branchState?.version ?? 0,
  );
  return outcome;
};
