/**
 * One JSON request over fetch for the adapters that speak a REST API without an SDK (Vault,
 * Gitea/Forgejo, Bitbucket). A request that gets no answer is UNAVAILABLE (retryable); any HTTP
 * answer is returned for the adapter to translate. Headers (tokens) never reach an error.
 */
import { UnavailableError } from '../errors.ts';
import { translateProviderError } from './github/errors.ts';

export interface JsonAnswer {
  readonly status: number;
  /** The parsed body; undefined when it was empty or not JSON. */
  readonly body: unknown;
}

export const requestJson = async (
  what: string,
  url: string,
  init: {
    readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    readonly headers: Readonly<Record<string, string>>;
    readonly body?: unknown;
    /** @default 10_000 */
    readonly timeoutMs?: number;
  },
): Promise<JsonAnswer> => {
  let response: Response;
  try {
    response = await fetch(url, {
      method: init.method,
      headers: {
        accept: 'application/json',
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...init.headers,
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
    });
  } catch (error) {
    throw new UnavailableError(what, error);
  }
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
};

/** The provider's own short message from an error body (GitHub/Gitea `message`, Bitbucket `error.message`, GitLab objects). */
const providerMessage = (body: unknown): string | undefined => {
  const b = body as { message?: unknown; error?: { message?: unknown } } | undefined;
  const message = b?.message ?? b?.error?.message;
  if (typeof message === 'string') return message;
  return typeof message === 'object' && message !== null ? JSON.stringify(message) : undefined;
};

/** `requestJson` against a Git provider's REST API: any non-2xx answer becomes a domain error. */
export const providerJson = async (
  what: string,
  url: string,
  init: Parameters<typeof requestJson>[2],
): Promise<unknown> => {
  const answer = await requestJson(what, url, init);
  if (answer.status >= 200 && answer.status < 300) return answer.body;
  throw translateProviderError(what, answer.status, providerMessage(answer.body));
};

/** Every item of a page-numbered list: pages 1, 2, … until one comes back short (at most `maxPages`). */
export const allPages = async <T>(
  fetchPage: (page: number) => Promise<readonly T[]>,
  pageSize: number,
  maxPages = 50,
): Promise<T[]> => {
  const items: T[] = [];
  for (let page = 1; page <= maxPages; page++) {
    const batch = await fetchPage(page);
    items.push(...batch);
    if (batch.length < pageSize) break;
  }
  return items;
};
