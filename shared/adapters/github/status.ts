/** GitHub commit statuses through Octokit: `POST /repos/{owner}/{repo}/statuses/{sha}`. */
import type { Octokit } from '@octokit/core';
import type { GitProvider } from '../../ports/index.ts';
import { type GithubClientOptions, githubCall, githubClient } from './client.ts';
import { splitRepo } from './errors.ts';

export interface GithubStatusOptions extends GithubClientOptions {
  /** The link shown beside a status, e.g. a trace page for the commit. */
  readonly targetUrl?: (input: { repo: string; commit: string; context: string }) => string | undefined;
}

export class GithubStatusProvider implements GitProvider {
  readonly #octokit: Octokit;
  readonly #targetUrl: GithubStatusOptions['targetUrl'];

  constructor(options: GithubStatusOptions) {
    this.#octokit = githubClient(options);
    this.#targetUrl = options.targetUrl;
  }

  async setStatus(input: Parameters<GitProvider['setStatus']>[0]): Promise<void> {
    const { owner, name } = splitRepo(input.repo);
    const url = input.url ?? this.#targetUrl?.(input);
    await githubCall(
      `GitHub commit status ${input.context} on ${input.repo}@${input.commit.slice(0, 7)}`,
      () =>
        this.#octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
          owner,
          repo: name,
          sha: input.commit,
          state: input.state,
          context: input.context,
          description: input.description.slice(0, 140),
          ...(url ? { target_url: url } : {}),
        }),
    );
  }
}
