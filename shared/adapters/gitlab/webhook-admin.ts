/** GitLab project webhooks (REST v4): `/projects/:id/hooks`. */
import type { WebhookAdmin, WebhookHook, WebhookHookInput } from '../../ports/index.ts';
import { allPages } from '../http-json.ts';
import { type GitlabClientOptions, type GitlabRequest, gitlabClient, projectId } from './client.ts';

interface GitlabHook {
  id: number;
  url: string;
  push_events?: boolean;
  tag_push_events?: boolean;
  /** Newer GitLab: `executable`, `disabled` or `temporarily_disabled` after failures. */
  alert_status?: string;
}

const toHook = (hook: GitlabHook): WebhookHook => ({
  id: String(hook.id),
  url: hook.url,
  active: hook.alert_status === undefined || hook.alert_status === 'executable',
  events: [...(hook.push_events ? ['push'] : []), ...(hook.tag_push_events ? ['tag_push'] : [])],
});

/** Push events only; the secret is GitLab's "secret token" (X-Gitlab-Token); TLS verified. */
const body = (input: WebhookHookInput) => ({
  url: input.url,
  token: input.secret,
  push_events: true,
  tag_push_events: false,
  merge_requests_events: false,
  enable_ssl_verification: true,
});

export class GitlabWebhookAdmin implements WebhookAdmin {
  readonly provider = 'gitlab';
  readonly #request: GitlabRequest;

  /** The token needs the `api` scope and the Maintainer role on the project. */
  constructor(options: GitlabClientOptions) {
    this.#request = gitlabClient(options);
  }

  list(repo: string): Promise<WebhookHook[]> {
    return allPages(async (page) => {
      const hooks = await this.#request(
        `GitLab webhooks of ${repo}`,
        'GET',
        `/projects/${projectId(repo)}/hooks?per_page=100&page=${page}`,
      );
      return (hooks as GitlabHook[]).map(toHook);
    }, 100);
  }

  async create(repo: string, input: WebhookHookInput): Promise<WebhookHook> {
    const hook = await this.#request(
      `GitLab webhook ${input.url} on ${repo}`,
      'POST',
      `/projects/${projectId(repo)}/hooks`,
      body(input),
    );
    return toHook(hook as GitlabHook);
  }

  async update(repo: string, id: string, input: WebhookHookInput): Promise<WebhookHook> {
    const hook = await this.#request(
      `GitLab webhook ${id} on ${repo}`,
      'PUT',
      `/projects/${projectId(repo)}/hooks/${encodeURIComponent(id)}`,
      body(input),
    );
    return toHook(hook as GitlabHook);
  }

  async delete(repo: string, id: string): Promise<void> {
    await this.#request(
      `GitLab webhook ${id} on ${repo}`,
      'DELETE',
      `/projects/${projectId(repo)}/hooks/${encodeURIComponent(id)}`,
    );
  }
}
