/**
 * Commit statuses per (app, target), context `sluice/<app>@<target>`: pending when a release is
 * planned, failure when its render fails or policy rejects it, superseded as `error`; the report
 * step sets success/failure when the agent answers. Statuses are best effort: a provider that is
 * down never blocks or retries a deployment, so every call here swallows its error.
 */
import type { CommitState, GitProvider } from '../../ports/index.ts';
import type {
  CommitPushed,
  PolicyRejected,
  ReleasePlanned,
  ReleaseRejected,
  RenderFailed,
} from '../../schemas/events.ts';

/** GitHub caps a status description at 140 characters. */
export const MAX_STATUS_DESCRIPTION = 140;

export const statusContext = (app: string, target: string): string => `sluice/${app}@${target}`;

const cut = (text: string): string =>
  text.length <= MAX_STATUS_DESCRIPTION ? text : `${text.slice(0, MAX_STATUS_DESCRIPTION - 1)}…`;

const setAll = async (
  provider: GitProvider | undefined,
  input: { repo: string; commit: string; pairs: [string, string][]; state: CommitState; description: string },
): Promise<void> => {
  if (!provider) return;
  await Promise.all(
    input.pairs.map(([app, target]) =>
      provider
        .setStatus({
          repo: input.repo,
          commit: input.commit,
          context: statusContext(app, target),
          state: input.state,
          description: cut(input.description),
        })
        .catch(() => undefined),
    ),
  );
};

export const reportPlanned = (provider: GitProvider | undefined, plan: ReleasePlanned): Promise<void> =>
  setAll(provider, {
    repo: plan.repo,
    commit: plan.commit,
    pairs: plan.releases.flatMap((r) => r.targets.map((t): [string, string] => [r.spec.app, t.name])),
    state: 'pending',
    description: `Planned (generation ${plan.generation}); rendering and deploying`,
  });

export const reportSuperseded = (
  provider: GitProvider | undefined,
  plan: ReleasePlanned,
  by: string,
): Promise<void> =>
  setAll(provider, {
    repo: plan.repo,
    commit: plan.commit,
    pairs: plan.releases.flatMap((r) => r.targets.map((t): [string, string] => [r.spec.app, t.name])),
    state: 'error',
    description: `Superseded by ${by.slice(0, 7)} before rendering; that commit's status tells the outcome`,
  });

/** One line for a policy rejection: how many violations, and the first ones by policy and object. */
export const summariseViolations = (violations: PolicyRejected['violations']): string => {
  const first = violations
    .slice(0, 2)
    .map((v) => `${v.policy} on ${v.object}`)
    .join('; ');
  const more = violations.length > 2 ? `; +${violations.length - 2} more` : '';
  return `Policy rejected: ${violations.length} violation(s): ${first}${more}`;
};

export const reportRejected = (
  provider: GitProvider | undefined,
  event: PolicyRejected | RenderFailed,
): Promise<void> =>
  setAll(provider, {
    repo: event.repo,
    commit: event.commit,
    pairs: event.targets.map((target): [string, string] => [event.app, target]),
    state: 'failure',
    description:
      'violations' in event ? summariseViolations(event.violations) : `Render failed: ${event.error.message}`,
  });

/** A target the trust policy refused the commit for (docs/provenance.md): a failure naming why. */
export const reportUntrusted = (provider: GitProvider | undefined, event: ReleaseRejected): Promise<void> =>
  setAll(provider, {
    repo: event.repo,
    commit: event.commit,
    pairs: event.targets.map((target): [string, string] => [event.app, target]),
    state: 'failure',
    description: `Release rejected: ${event.message}`,
  });

/** The commit status context of the fleet configuration itself (sluice.yaml). */
export const CONFIG_CONTEXT = 'sluice/config';

/**
 * A commit whose sluice.yaml does not parse plans nothing, so no (app, target) status would ever
 * name it: one `failure` status on `sluice/config` carries the configuration error instead.
 */
export const reportInvalidConfig = async (
  provider: GitProvider | undefined,
  push: Pick<CommitPushed, 'repo' | 'commit'>,
  message: string,
): Promise<void> => {
  await provider
    ?.setStatus({
      repo: push.repo,
      commit: push.commit,
      context: CONFIG_CONTEXT,
      state: 'failure',
      description: cut(`Invalid sluice.yaml: ${message}`),
    })
    .catch(() => undefined);
};
