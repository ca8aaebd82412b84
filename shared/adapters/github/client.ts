import { Octokit } from '@octokit/core';
import { translateProviderError } from './errors.ts';

export interface GithubClientOptions {
  /** A token that may write statuses (and, for `sluice webhook`, admin:repo_hook). Never logged. */
  readonly token: string;
  /** @default https://api.github.com (GitHub Enterprise: https://HOST/api/v3) */
  readonly baseUrl?: string;
}

export const githubClient = (options: GithubClientOptions): Octokit =>
  new Octokit({
    auth: options.token,
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
    userAgent: 'sluice',
    // Octokit logs request failures with console.warn/error by default; the domain error says enough.
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });

/** Runs an Octokit request and translates its failure. */
export const githubCall = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
  try {
    return await call();
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    const message = (error as { response?: { data?: { message?: unknown } } }).response?.data?.message;
    throw translateProviderError(
      what,
      typeof status === 'number' && status > 0 ? status : undefined,
      typeof message === 'string' ? message : undefined,
      error,
    );
  }
};
