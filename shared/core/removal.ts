/**
 * App lifecycle: an app that leaves a target (removed from sluice.yaml, or its selector no longer
 * picks the target) has its objects removed from that target — plan finds it, dispatch signs and
 * hands it over, the agent removes only what the app owns, and only when the app's last deployed
 * config had `sync.prune` (the inventory remembers it). docs/agent.md#removing-an-app.
 */
import { createHash } from 'node:crypto';
import { isSluiceError, type SluiceError } from '../errors.ts';
import type { DeploymentRecord } from '../ports/index.ts';
import type { FleetConfig, TargetConfig } from '../schemas/config.ts';
import type { OutboundEvent, RemovalRequested, TargetRef } from '../schemas/events.ts';
import { type AgentDeps, outcomeOf } from './agent.ts';
import { selectTargets } from './config.ts';
import type { DispatchDeps } from './dispatch.ts';

/** What a removal's signature covers: who removes which app from which target, at which generation. */
export const removalDigest = (r: {
  repo: string;
  app: string;
  target: { name: string };
  generation: number;
}): string =>
  `sha256:${createHash('sha256')
    .update(`sluice-removal:v1\n${r.repo}\n${r.app}\n${r.target.name}\n${r.generation}`)
    .digest('hex')}`;

/**
 * The (app, target) pairs this repo's branch deployed (per the ledger) that `config` no longer
 * puts there. A target gone from the config too is found in `previous` (the config before this
 * commit); a target in neither cannot be routed to its agent and is left alone.
 */
export const removalsFor = (input: {
  repo: string;
  branch: string;
  config: FleetConfig;
  previous?: FleetConfig;
  deployed: readonly DeploymentRecord[];
  toTargetRef: (t: TargetConfig) => TargetRef;
}): { app: string; target: TargetRef; reason: RemovalRequested['reason'] }[] => {
  const wanted = new Set(
    input.config.apps.flatMap((app) =>
      selectTargets(app.targets, input.config.targets).map((t) => `${app.name}\n${t.name}`),
    ),
  );
  const targets = new Map(
    [...(input.previous?.targets ?? []), ...input.config.targets].map((t) => [t.name, t]),
  );
  const apps = new Set(input.config.apps.map((a) => a.name));
  return input.deployed
    .filter((r) => r.repo === input.repo && r.branch === input.branch && r.state !== 'Removed')
    .filter((r) => !wanted.has(`${r.app}\n${r.target}`))
    .flatMap((r) => {
      const target = targets.get(r.target);
      return target
        ? [
            {
              app: r.app,
              target: input.toTargetRef(target),
              reason: apps.has(r.app) ? ('target-deselected' as const) : ('app-removed' as const),
            },
          ]
        : [];
    });
};

/** Dispatch: signs a removal and hands it to the target's agent (a newer release of the app there wins). */
export const dispatchRemoval = async (deps: DispatchDeps, request: RemovalRequested): Promise<boolean> => {
  const current = await deps.ledger.getDeployment(request.app, request.target.name, request.repo);
  if (current && current.generation > request.generation) return false;
  const signed: RemovalRequested = deps.signer
    ? { ...request, signature: await deps.signer.sign(request.digest) }
    : request;
  await deps.agents.send(request.target, {
    body: JSON.stringify(signed),
    dedupId: `remove:${request.repo}:${request.app}:${request.target.name}:${request.generation}`,
  });
  return true;
};

/**
 * The agent's side: removes the app's objects from the target when the removal is authentic, the
 * app on this target is this repo's, not newer than the removal, and was deployed with prune on.
 * Only objects carrying the app's ownership labels are deleted (the cluster adapter checks each).
 */
export const removeRequested = async (deps: AgentDeps, request: RemovalRequested): Promise<OutboundEvent> => {
  const run = async (): Promise<OutboundEvent> => {
    const cluster = deps.cluster(request.target.name, request.target);
    const outcome = outcomeOf(request, request.digest);
    const at = () => deps.clock.now().toISOString();
    const publish = async (event: OutboundEvent) => {
      await deps.bus.publish([event]);
      return event;
    };
    const failed = (reason: string, message: string) =>
      publish({
        detailType: 'Deployment Failed',
        detail: { ...outcome, occurredAt: at(), reason, message, objects: [] },
      });
    if (request.digest !== removalDigest(request)) {
      return failed(
        'SIGNATURE_INVALID',
        `removal of ${request.app} names digest ${request.digest}, which is not its own; refused`,
      );
    }
    if (deps.verifier) {
      const signature = request.signature;
      if (!signature || !(await deps.verifier.verify(request.digest, signature))) {
        return failed(
          'SIGNATURE_INVALID',
          `removal of app ${request.app} from ${request.target.name} is ${signature ? 'signed by a key that does not verify' : 'unsigned'}; refused, nothing was deleted`,
        );
      }
    }
    try {
      const inventory = await cluster.readInventory(request.app);
      const skipped = (reason: 'stale' | 'prune-disabled' | 'not-owned', message: string) =>
        publish({
          detailType: 'Deployment Skipped',
          detail: {
            ...outcome,
            occurredAt: at(),
            reason,
            message,
            appliedGeneration: inventory?.generation ?? 0,
          },
        });
      if (inventory && inventory.generation > request.generation) {
        return skipped(
          'stale',
          `generation ${inventory.generation} of ${request.app} is newer than the removal (${request.generation}); kept`,
        );
      }
      const owner = inventory?.source?.repo;
      if (inventory && owner !== undefined && owner !== request.repo) {
        return skipped(
          'not-owned',
          `app ${JSON.stringify(request.app)} on ${request.target.name} is deployed from ${JSON.stringify(owner)}, not ${JSON.stringify(request.repo)}; nothing was deleted`,
        );
      }
      if (inventory?.source && !inventory.source.sync.prune) {
        return skipped(
          'prune-disabled',
          `app ${request.app} left ${request.target.name}, but its last deployed config had sync.prune: false; its objects are kept. Fix: delete them by hand, or deploy it once with prune on before removing it`,
        );
      }
      const result = inventory?.source
        ? await cluster.apply(request.app, [], {
            prune: true,
            remove: true,
            inventory: {
              app: request.app,
              generation: request.generation,
              commit: request.commit,
              digest: request.digest,
            },
          })
        : { pruned: 0 };
      return publish({
        detailType: 'Deployment Removed',
        detail: { ...outcome, occurredAt: at(), reason: request.reason, removed: result.pruned },
      });
    } catch (error) {
      if (!isSluiceError(error) || error.retryable) throw error;
      return failed((error as SluiceError).code, error.message);
    }
  };
  return deps.exclusive ? deps.exclusive(`${request.target.name}/${request.app}`, run) : run();
};
