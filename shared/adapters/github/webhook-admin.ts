/** GitHub repository webhooks through Octokit: `/repos/{owner}/{repo}/hooks`. */
import type { Octokit } from '@octokit/core';
import type { WebhookAdmin, WebhookHook, WebhookHookInput } from '../../ports/index.ts';
import { allPages } from '../http-json.ts';
import { type GithubClientOptions, githubCall, githubClient } from './client.ts';
import { splitRepo } from './errors.ts';

interface GithubHook {
  id: number;
  active: boolean;
  events: string[];
  config: { url?: string };
}

const toHook = (hook: GithubHook): WebhookHook => ({
  id: String(hook.id),
  url: hook.config.url ?? '',
  active: hook.active,
  events: hook.events,
});

/** Push events only, JSON bodies (X-Hub-Signature-256), TLS verified. */
const body = (input: WebhookHookInput) => ({
  active: true,
  events: ['push'],
  config: { url: input.url, content_type: 'json', secret: input.secret, insecure_ssl: '0' },
});

export class GithubWebhookAdmin implements WebhookAdmin {
  readonly provider = 'github';
  readonly #octokit: Octokit;

  /** The token needs `admin:repo_hook` (classic) or the "Webhooks: write" repository permission. */
  constructor(options: GithubClientOptions) {
    this.#octokit = githubClient(options);
  }

  list(repo: string): Promise<WebhookHook[]> {
    const { owner, name } = splitRepo(repo);
    return allPages(async (page) => {
      const response = await githubCall(`GitHub webhooks of ${repo}`, () =>
        this.#octokit.request('GET /repos/{owner}/{repo}/hooks', { owner, repo: name, per_page: 100, page }),
      );
      return (response.data as GithubHook[]).map(toHook);
    }, 100);
  }

  async create(repo: string, input: WebhookHookInput): Promise<WebhookHook> {
    const { owner, name } = splitRepo(repo);
    const response = await githubCall(`GitHub webhook ${input.url} on ${repo}`, () =>
      this.#octokit.request('POST /repos/{owner}/{repo}/hooks', {
        owner,
        repo: name,
        name: 'web',
        ...body(input),
      }),
    );
    return toHook(response.data as GithubHook);
  }

  async update(repo: string, id: string, input: WebhookHookInput): Promise<WebhookHook> {
    const { owner, name } = splitRepo(repo);
    const response = await githubCall(`GitHub webhook ${id} on ${repo}`, () =>
      this.#octokit.request('PATCH /repos/{owner}/{repo}/hooks/{hook_id}', {
        owner,
        repo: name,
        hook_id: Number(id),
        ...body(input),
      }),
    );
    return toHook(response.data as GithubHook);
  }

  async delete(repo: string, id: string): Promise<void> {
    const { owner, name } = splitRepo(repo);
    await githubCall(`GitHub webhook ${id} on ${repo}`, () =>
      this.#octokit.request('DELETE /repos/{owner}/{repo}/hooks/{hook_id}', {
        owner,
        repo: name,
        hook_id: Number(id),
      }),
    );
  }
}
