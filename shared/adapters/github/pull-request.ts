/**
 * Pull requests on GitHub (or GitHub Enterprise via `baseUrl`) through Octokit, for rollbacks of
 * apps with `rollback.review`. The token is read from the secret store per call, never logged.
 */
import { Octokit } from '@octokit/core';
import { BadInputError, SluiceError, UnavailableError } from '../../errors.ts';
import type { PullRequestOpener, SecretStore } from '../../ports/index.ts';

export interface GithubPullRequestOptions {
  readonly secrets: SecretStore;
  /** Secret store reference of a token that may open pull requests, e.g. `aws-sm://sluice/github#token`. */
  readonly tokenRef: string;
  /** @default https://api.github.com */
  readonly baseUrl?: string;
}

const translate = (error: unknown, what: string): SluiceError => {
  const status = (error as { status?: number }).status ?? 0;
  if (status === 0 || status >= 500 || status === 429) return new UnavailableError(`GitHub (${what})`, error);
  if (status === 401 || status === 403) {
    return new SluiceError(
      'UNAUTHORIZED',
      `GitHub refused ${what} with HTTP ${status}. Fix: give the token in the secret store pull-request write access`,
      { data: { status } },
    );
  }
  return new SluiceError('GITHUB_FAILED', `GitHub answered ${what} with HTTP ${status}`, {
    data: { status },
  });
};

export const createGithubPullRequests = (options: GithubPullRequestOptions): PullRequestOpener => ({
  async openPullRequest(input) {
    const [owner, repo, ...rest] = input.repo.split('/');
    if (!owner || !repo || rest.length > 0) {
      throw new BadInputError(
        `repository ${input.repo}`,
        'is not OWNER/NAME',
        'name GitHub repositories as owner/name',
      );
    }
    const octokit = new Octokit({
      auth: await options.secrets.get(options.tokenRef),
      ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
    });
    try {
      const { data } = await octokit.request('POST /repos/{owner}/{repo}/pulls', {
        owner,
        repo,
        base: input.base,
        head: input.head,
        title: input.title,
        body: input.body,
      });
      return { url: data.html_url, number: data.number };
    } catch (error) {
      if ((error as { status?: number }).status !== 422)
        throw translate(error, `opening a pull request on ${input.repo}`);
    }
    // 422: a pull request for this branch is already open (a retried rollback): use it.
    try {
      const { data } = await octokit.request('GET /repos/{owner}/{repo}/pulls', {
        owner,
        repo,
        head: `${owner}:${input.head}`,
        state: 'open',
      });
      const open = data[0];
      if (!open)
        throw new SluiceError(
          'GITHUB_FAILED',
          `GitHub refused the pull request for ${input.head} on ${input.repo}`,
        );
      return { url: open.html_url, number: open.number };
    } catch (error) {
      throw error instanceof SluiceError ? error : translate(error, `listing pull requests of ${input.repo}`);
    }
  },
});
