/**
 * Which repositories and branches may deploy. The list comes from the deployment config (never
 * from a repo or a payload): a webhook naming another repo is refused and never cloned, the clone
 * URL is always the configured one, and a push to a branch the list does not name is recorded as
 * skipped. sluice.yaml `branches:` narrows a repo's branches; it can never add one.
 */
import { BadInputError, ConfigError } from '../errors.ts';
import { DEFAULT_DEPLOY_BRANCH, type DeployRepoInput, deployReposSchema } from '../schemas/repos.ts';

export interface DeployRepo {
  readonly name: string;
  readonly url: string;
  /** Never empty: `main` when the deployment config names none. */
  readonly branches: readonly string[];
}

export interface RepoCatalog {
  readonly repos: readonly DeployRepo[];
  /** The configured repo webhooks and events call `name`, or undefined. */
  find(name: string): DeployRepo | undefined;
}

/** Where the list came from, for messages: what a user edits to change it. */
export const REPOS_FIX = 'add it to management.repos in sluice.deploy.yaml';

/** Validates the list and indexes it by name; a duplicate name is a ConfigError. */
export const repoCatalog = (input: readonly DeployRepoInput[], source = 'repos'): RepoCatalog => {
  const parsed = deployReposSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      source,
      (issue?.path ?? []).map(String).join('.'),
      issue?.message ?? 'is invalid',
      'list each repo as { name: owner/name, url: https://…/name.git, branches: [main] }',
    );
  }
  const byName = new Map<string, DeployRepo>();
  for (const repo of parsed.data) {
    if (byName.has(repo.name)) {
      throw new ConfigError(source, repo.name, 'is listed twice', 'list each repository once');
    }
    byName.set(repo.name, {
      name: repo.name,
      url: repo.url,
      branches: [...new Set(repo.branches ?? [DEFAULT_DEPLOY_BRANCH])],
    });
  }
  return { repos: [...byName.values()], find: (name) => byName.get(name) };
};

/**
 * The branches of `repo` that deploy: the configured ones, narrowed by sluice.yaml `branches:`
 * when it has that field. A branch sluice.yaml names but the deployment config does not is
 * not added (the repo cannot widen its own trust).
 */
export const deployBranches = (repo: DeployRepo, narrowed?: readonly string[]): readonly string[] =>
  narrowed === undefined ? repo.branches : repo.branches.filter((b) => narrowed.includes(b));

const list = (branches: readonly string[]) =>
  branches.length === 0 ? '(none)' : branches.map((b) => JSON.stringify(b)).join(', ');

/** Release Skipped's message for a push to a branch that does not deploy: the branch, the list and the fix. */
export const branchNotConfigured = (
  repo: DeployRepo,
  branch: string,
  narrowed?: readonly string[],
): string => {
  const allowed = deployBranches(repo, narrowed);
  if (!repo.branches.includes(branch)) {
    return `branch ${JSON.stringify(branch)} of ${repo.name} does not deploy (deploy branches: ${list(repo.branches)}); nothing was deployed. Fix: merge into ${list(allowed)}, or add ${JSON.stringify(branch)} to the branches of ${repo.name} in the deployment config (management.repos in sluice.deploy.yaml; sluice dev: --branch)`;
  }
  return `branch ${JSON.stringify(branch)} of ${repo.name} does not deploy: sluice.yaml branches lists ${list(narrowed ?? [])}; nothing was deployed. Fix: merge into ${list(allowed)}, or add ${JSON.stringify(branch)} to branches in sluice.yaml`;
};

/** Why a push naming a repo outside the list is refused. */
export const repoNotConfigured = (name: string): string =>
  `repository ${JSON.stringify(name)} is not configured to deploy; it was not cloned. Fix: ${REPOS_FIX}`;

/**
 * A catalog whose list is set once the host knows it (`sluice dev` learns its git server's URL
 * only after the pipeline is built). Empty until `set`: nothing deploys before then.
 */
export const lateRepoCatalog = (): {
  catalog: RepoCatalog;
  set(input: readonly DeployRepoInput[], source?: string): void;
} => {
  let current = repoCatalog([]);
  return {
    catalog: {
      get repos() {
        return current.repos;
      },
      find: (name) => current.find(name),
    },
    set(input, source) {
      current = repoCatalog(input, source);
    },
  };
};

/** Every deploy branch of every configured repo: what the reconciliation poll compares with the ledger. */
export const deployBranchList = (
  catalog: RepoCatalog,
): { readonly repo: string; readonly repoUrl: string; readonly branch: string }[] =>
  catalog.repos.flatMap((r) => r.branches.map((branch) => ({ repo: r.name, repoUrl: r.url, branch })));

/** The configured clone URL of `repo` (rollback reads sluice.yaml and pushes reverts there); throws for another repo. */
export const cloneUrlOf =
  (catalog: RepoCatalog) =>
  (repo: string): string => {
    const found = catalog.find(repo);
    if (found === undefined) throw new BadInputError(`repository ${repo}`, 'is not configured', REPOS_FIX);
    return found.url;
  };
