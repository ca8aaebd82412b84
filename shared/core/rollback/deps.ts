/** What every rollback step shares: its ports, the fleet at a commit, claims and Rollback Skipped. */
import { ConfigError } from '../../errors.ts';
import type {
  AgentDispatcher,
  BundleSigner,
  BundleStore,
  Clock,
  EventBus,
  GitSource,
  GitWriter,
  IdempotencyStore,
  Ledger,
  PullRequestOpener,
} from '../../ports/index.ts';
import { CONFIG_FILE } from '../../schemas/config.ts';
import type { OutboundEvent, RollbackRequested, RollbackSkipped } from '../../schemas/events.ts';
import { parseFleetConfig } from '../config.ts';

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

export const short = (sha: string) => sha.slice(0, 7);

/** sluice.yaml at `commit`: which apps roll back, on what, and where their files are. */
export const loadFleet = async (deps: RollbackDeps, repo: string, branch: string, commit: string) => {
  const tree = await deps.git.checkout(deps.repoUrl(repo), branch, commit);
  const text = await tree.read(CONFIG_FILE);
  if (text === undefined) {
    throw new ConfigError(CONFIG_FILE, '', `is missing at ${short(commit)}`, 'restore sluice.yaml');
  }
  return parseFleetConfig(text, CONFIG_FILE);
};

export const skipped = (
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
export const claim = (deps: RollbackDeps, key: string) => deps.claims.claim(key, CLAIM_TTL_SECONDS);

/** Publishes events; a failed publish gives the claims back so the retry is not taken for a duplicate. */
export const publishClaimed = async (deps: RollbackDeps, events: OutboundEvent[], keys: string[]) => {
  try {
    if (events.length > 0) await deps.bus.publish(events);
  } catch (error) {
    await Promise.all(keys.map((k) => deps.claims.release(k)));
    throw error;
  }
  return events;
};
