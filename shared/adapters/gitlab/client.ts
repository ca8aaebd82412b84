/** A small client for GitLab's REST API v4 (`PRIVATE-TOKEN` header), translating failures. */
import { translateProviderError } from '../github/errors.ts';

export interface GitlabClientOptions {
  /** A token with the `api` scope. Never logged. */
  readonly token: string;
  /** @default https://gitlab.com */
  readonly baseUrl?: string;
}

export type GitlabRequest = (
  what: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: Record<string, unknown>,
) => Promise<unknown>;

/** `group/sub/name` → the URL-encoded project id GitLab accepts in paths. */
export const projectId = (repo: string): string => encodeURIComponent(repo);

export const gitlabClient = (options: GitlabClientOptions): GitlabRequest => {
  const base = `${(options.baseUrl ?? 'https://gitlab.com').replace(/\/$/, '')}/api/v4`;
  return async (what, method, path, body) => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          'private-token': options.token,
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      throw translateProviderError(what, undefined, undefined, error);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const message = (parsed as { message?: unknown } | undefined)?.message;
      throw translateProviderError(
        what,
        response.status,
        typeof message === 'string'
          ? message
          : typeof message === 'object'
            ? JSON.stringify(message)
            : undefined,
      );
    }
    return parsed;
  };
};
