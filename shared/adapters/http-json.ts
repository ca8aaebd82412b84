/**
 * One JSON request over fetch for the adapters that speak a REST API without an SDK (Vault,
 * Gitea/Forgejo, Bitbucket). A request that gets no answer is UNAVAILABLE (retryable); any HTTP
 * answer is returned for the adapter to translate. Headers (tokens) never reach an error.
 */
import { UnavailableError } from '../errors.ts';

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
