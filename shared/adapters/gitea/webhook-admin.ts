/** Gitea and Forgejo repository webhooks (API v1): `/repos/{owner}/{repo}/hooks`. */
import type { WebhookAdmin, WebhookHook, WebhookHookInput } from '../../ports/index.ts';
import { splitRepo } from '../github/errors.ts';
import { allPages, providerJson } from '../http-json.ts';

export interface GiteaAdminOptions {
  /** `gitea` or `forgejo`: the ingest path the hooks point at. */
  readonly provider: 'gitea' | 'forgejo';
  /** The server, e.g. `https://gitea.example.com` (the API is under /api/v1). */
  readonly baseUrl: string;
  /** An access token with the `write:repository` scope. Never logged. */
  readonly token: string;
}

interface GiteaHook {
  id: number;
  active: boolean;
  events: string[];
  config: { url?: string };
}

const toHook = (hook: GiteaHook): WebhookHook => ({
  id: String(hook.id),
  url: hook.config.url ?? '',
  active: hook.active,
  events: hook.events,
});

/**
 * Push events only, JSON bodies, signed with the secret. Type `gitea` exists on Gitea and Forgejo
 * alike, and Forgejo sends its X-Forgejo-Signature with it as well.
 */
const config = (input: WebhookHookInput) => ({ url: input.url, content_type: 'json', secret: input.secret });

export class GiteaWebhookAdmin implements WebhookAdmin {
  readonly provider: 'gitea' | 'forgejo';
  readonly #base: string;
  readonly #headers: Readonly<Record<string, string>>;

  constructor(options: GiteaAdminOptions) {
    this.provider = options.provider;
    this.#base = `${options.baseUrl.replace(/\/+$/, '')}/api/v1`;
    this.#headers = { authorization: `token ${options.token}` };
  }

  #hooks(repo: string): string {
    const { owner, name } = splitRepo(repo);
    return `${this.#base}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/hooks`;
  }

  list(repo: string): Promise<WebhookHook[]> {
    return allPages(async (page) => {
      const hooks = await providerJson(
        `${this.provider} webhooks of ${repo}`,
        `${this.#hooks(repo)}?page=${page}&limit=50`,
        {
          method: 'GET',
          headers: this.#headers,
        },
      );
      return (hooks as GiteaHook[]).map(toHook);
    }, 50);
  }

  async create(repo: string, input: WebhookHookInput): Promise<WebhookHook> {
    const hook = await providerJson(`${this.provider} webhook ${input.url} on ${repo}`, this.#hooks(repo), {
      method: 'POST',
      headers: this.#headers,
      body: { type: 'gitea', config: config(input), events: ['push'], active: true },
    });
    return toHook(hook as GiteaHook);
  }

  async update(repo: string, id: string, input: WebhookHookInput): Promise<WebhookHook> {
    const hook = await providerJson(
      `${this.provider} webhook ${id} on ${repo}`,
      `${this.#hooks(repo)}/${encodeURIComponent(id)}`,
      {
        method: 'PATCH',
        headers: this.#headers,
        body: { config: config(input), events: ['push'], active: true },
      },
    );
    return toHook(hook as GiteaHook);
  }

  async delete(repo: string, id: string): Promise<void> {
    await providerJson(
      `${this.provider} webhook ${id} on ${repo}`,
      `${this.#hooks(repo)}/${encodeURIComponent(id)}`,
      {
        method: 'DELETE',
        headers: this.#headers,
      },
    );
  }
}
