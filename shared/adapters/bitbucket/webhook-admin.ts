/** Bitbucket Cloud repository webhooks (API 2.0): `/repositories/{workspace}/{repo_slug}/hooks`. */
import { SluiceError } from '../../errors.ts';
import type { WebhookAdmin, WebhookHook, WebhookHookInput } from '../../ports/index.ts';
import { splitRepo } from '../github/errors.ts';
import { providerJson } from '../http-json.ts';

export interface BitbucketAdminOptions {
  /** @default https://api.bitbucket.org/2.0 */
  readonly baseUrl?: string;
  /**
   * A repository/workspace access token (sent as Bearer), or `user:app-password` /
   * `email:api-token` (sent as Basic). Needs the `webhook` scope. Never logged.
   */
  readonly token: string;
}

interface BitbucketHook {
  uuid: string;
  url: string;
  active: boolean;
  events: string[];
}

const toHook = (hook: BitbucketHook): WebhookHook => ({
  id: hook.uuid,
  url: hook.url,
  active: hook.active,
  events: hook.events,
});

/** Repository pushes only, signed with the secret (X-Hub-Signature). */
const body = (input: WebhookHookInput) => ({
  description: 'Sluice',
  url: input.url,
  active: true,
  secret: input.secret,
  events: ['repo:push'],
});

export class BitbucketWebhookAdmin implements WebhookAdmin {
  readonly provider = 'bitbucket';
  readonly #base: string;
  readonly #headers: Readonly<Record<string, string>>;

  constructor(options: BitbucketAdminOptions) {
    this.#base = (options.baseUrl ?? 'https://api.bitbucket.org/2.0').replace(/\/+$/, '');
    this.#headers = {
      authorization: options.token.includes(':')
        ? `Basic ${Buffer.from(options.token).toString('base64')}`
        : `Bearer ${options.token}`,
    };
  }

  #hooks(repo: string): string {
    const { owner, name } = splitRepo(repo);
    return `${this.#base}/repositories/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/hooks`;
  }

  /** Follows the `next` links, only within the API's own origin (the token goes with each page). */
  async list(repo: string): Promise<WebhookHook[]> {
    const hooks: WebhookHook[] = [];
    let next: string | undefined = `${this.#hooks(repo)}?pagelen=100`;
    for (let page = 0; next !== undefined && page < 50; page++) {
      if (new URL(next).origin !== new URL(this.#base).origin) {
        throw new SluiceError(
          'PROVIDER_REJECTED',
          `Bitbucket paged webhooks of ${repo} to another host; refusing to follow it`,
          {
            data: { repo },
          },
        );
      }
      const answer = (await providerJson(`Bitbucket webhooks of ${repo}`, next, {
        method: 'GET',
        headers: this.#headers,
      })) as {
        values?: BitbucketHook[];
        next?: string;
      };
      hooks.push(...(answer.values ?? []).map(toHook));
      next = answer.next;
    }
    return hooks;
  }

  async create(repo: string, input: WebhookHookInput): Promise<WebhookHook> {
    const hook = await providerJson(`Bitbucket webhook ${input.url} on ${repo}`, this.#hooks(repo), {
      method: 'POST',
      headers: this.#headers,
      body: body(input),
    });
    return toHook(hook as BitbucketHook);
  }

  async update(repo: string, id: string, input: WebhookHookInput): Promise<WebhookHook> {
    const hook = await providerJson(
      `Bitbucket webhook ${id} on ${repo}`,
      `${this.#hooks(repo)}/${encodeURIComponent(id)}`,
      {
        method: 'PUT',
        headers: this.#headers,
        body: body(input),
      },
    );
    return toHook(hook as BitbucketHook);
  }

  async delete(repo: string, id: string): Promise<void> {
    await providerJson(
      `Bitbucket webhook ${id} on ${repo}`,
      `${this.#hooks(repo)}/${encodeURIComponent(id)}`,
      {
        method: 'DELETE',
        headers: this.#headers,
      },
    );
  }
}
