import { isSluiceError, type SluiceError } from '../errors.ts';
import type { BundleStore, Clock, EventBus, GitProvider, GitSource, Ledger } from '../ports/index.ts';
import type { OutboundEvent, ReleasePlanned, Violation } from '../schemas/events.ts';
import { checkRender, loadPolicyLayers, type PolicyLayerDeps } from './admission-layers.ts';
import { encodeBundle } from './bundle.ts';
import { RenderError, type RenderedObject } from './render.ts';
import { type RenderCacheDeps, renderCached } from './render-cache.ts';
import { reportRejected, reportSuperseded } from './webhooks/commit-status.ts';

export interface RenderDeps extends RenderCacheDeps, PolicyLayerDeps {
  readonly git: GitSource;
  readonly ledger: Ledger;
  readonly bundles: BundleStore;
  readonly bus: EventBus;
  readonly clock: Clock;
  /** Commit statuses: failure for a render failure or policy rejection, error when superseded. */
  readonly provider?: GitProvider;
}

/**
 * The failure to report for one app when rendering or checking it threw, or undefined when the
 * error must propagate (a dependency is down: the message is retried). Content a user pushed
 * never sends the release to the dead-letter queue: a non-retryable SluiceError, or a plain
 * error thrown while reading that content (yaml's alias-bomb ReferenceError, a RangeError from
 * absurd nesting), fails that app alone.
 */
const appFailure = (error: unknown, what: string): SluiceError | undefined => {
  if (isSluiceError(error)) return error.retryable ? undefined : error;
  const contentError =
    error instanceof ReferenceError ||
    error instanceof RangeError ||
    error instanceof SyntaxError ||
    error instanceof TypeError;
  if (!contentError || 'code' in error) return undefined; // an errno error is the host's, not the push's
  return new RenderError(
    what,
    `could not be read (${error.message.split('\n')[0]})`,
    'simplify the YAML there (no alias chains, no absurd nesting); `sluice validate` shows the same error locally',
  );
};

/**
 * Notes on the branch which apps failed, so the next plan releases them again even when its
 * push touches nothing they read (the change they carried was never released). Written even
 * when a newer plan has moved the branch on: that plan may have left the app out. The next plan
 * clears the list and re-renders them; a conflicting write is read again, a few times.
 */
const recordFailedApps = async (deps: RenderDeps, plan: ReleasePlanned, apps: readonly string[]) => {
  if (apps.length === 0) return;
  for (let attempt = 0; attempt < 3; attempt++) {
    const branch = await deps.ledger.getBranch(plan.repo, plan.branch);
    if (!branch) return;
    const failedApps = [...new Set([...(branch.failedApps ?? []), ...apps])].sort();
    if (failedApps.length === branch.failedApps?.length) return;
    const { version, ...state } = branch;
    try {
      await deps.ledger.putBranch({ ...state, failedApps }, version);
      return;
    } catch (error) {
      if (!isSluiceError(error) || error.code !== 'CONFLICT') throw error;
    }
  }
};

/**
 * Renders every release of a plan once, checks policy, and stores each passing bundle by its
 * digest. A plan already overtaken by a newer one for its branch is dropped before any work.
 */
export const renderRelease = async (deps: RenderDeps, plan: ReleasePlanned): Promise<OutboundEvent[]> => {
  const common = {
    schemaVersion: 1 as const,
    traceId: plan.traceId,
    repo: plan.repo,
    branch: plan.branch,
    commit: plan.commit,
    generation: plan.generation,
  };
  const branch = await deps.ledger.getBranch(plan.repo, plan.branch);
  // A newer plan of another commit overtook this one. (A rollback also takes a generation but
  // leaves lastPlanned alone: that must not drop the plan of the commit it kept.)
  if (branch && branch.generation > plan.generation && branch.lastPlanned !== plan.commit) {
    const events: OutboundEvent[] = [
      {
        detailType: 'Release Skipped',
        detail: {
          ...common,
          occurredAt: deps.clock.now().toISOString(),
          reason: 'superseded',
          supersededBy: branch.lastPlanned,
          message: `generation ${plan.generation} was overtaken by ${branch.generation} (${branch.lastPlanned.slice(0, 7)}) before rendering`,
        },
      },
    ];
    await deps.bus.publish(events);
    await reportSuperseded(deps.provider, plan, branch.lastPlanned);
    return events;
  }

  const tree = await deps.git.checkout(plan.repoUrl, plan.branch, plan.commit);
  const events: OutboundEvent[] = [];
  // The fleet's CRDs and admission policies come from the commit too: if they cannot be read,
  // every app of this release fails with that reason, and nothing is retried or dead-lettered.
  let layers: Awaited<ReturnType<typeof loadPolicyLayers>> | undefined;
  let layersFailure: SluiceError | undefined;
  try {
    layers = await loadPolicyLayers(deps, tree);
  } catch (error) {
    layersFailure = appFailure(error, 'the policies.admission files and CRDs of sluice.yaml');
    if (!layersFailure) throw error;
  }
  for (const { spec, targets } of plan.releases) {
    const scope = {
      ...common,
      app: spec.app,
      ...(spec.environment ? { environment: spec.environment } : {}),
    };
    let objects: RenderedObject[];
    let cached: boolean;
    let violations: Violation[];
    try {
      if (layersFailure) throw layersFailure;
      ({ objects, cached } = await renderCached(deps, tree, spec));
      violations = await checkRender(layers!, objects, {
        disabled: spec.disabledPolicies,
        targets: targets.map((t) => t.name),
        substituted: spec.substitute !== undefined,
      });
    } catch (error) {
      const failure = appFailure(error, `app ${spec.app} (${spec.path})`);
      if (!failure) throw error;
      events.push({
        detailType: 'Render Failed',
        detail: {
          ...scope,
          occurredAt: deps.clock.now().toISOString(),
          targets: targets.map((t) => t.name),
          error: { code: failure.code, message: failure.message },
        },
      });
      continue;
    }
    // Warnings (a custom kind no CRD covers, "not checked") are reported, never a rejection.
    if (violations.some((v) => v.severity !== 'warning')) {
      events.push({
        detailType: 'Policy Rejected',
        detail: {
          ...scope,
          occurredAt: deps.clock.now().toISOString(),
          targets: targets.map((t) => t.name),
          violations,
        },
      });
      continue;
    }
    const bytes = encodeBundle(objects, {
      app: spec.app,
      commit: plan.commit,
      ...(spec.environment ? { environment: spec.environment } : {}),
    });
    const bundle = await deps.bundles.put(bytes, { objects: objects.length });
    events.push({
      detailType: 'Bundle Verified',
      detail: {
        ...scope,
        occurredAt: deps.clock.now().toISOString(),
        bundle,
        targets,
        sync: spec.sync,
        cached,
        ...(violations.length > 0 ? { warnings: violations } : {}),
        ...(plan.commitSignature ? { commitSignature: plan.commitSignature } : {}),
      },
    });
  }
  await deps.bus.publish(events);
  const failed: string[] = [];
  for (const event of events) {
    if (event.detailType === 'Policy Rejected' || event.detailType === 'Render Failed') {
      failed.push(event.detail.app);
      await reportRejected(deps.provider, event.detail);
    }
  }
  await recordFailedApps(deps, plan, failed);
  return events;
};
