import { NotFoundError, SluiceError, UnavailableError } from '../../errors.ts';

/**
 * A Git provider's HTTP answer → a domain error. Only the status and the provider's own short
 * message are kept: request headers (the token) never reach an error.
 */
export const translateProviderError = (
  what: string,
  status: number | undefined,
  detail: string | undefined,
  cause?: unknown,
): SluiceError => {
  const data = { what, ...(status === undefined ? {} : { status }) };
  if (status === undefined || status === 429 || status >= 500) return new UnavailableError(what, cause, data);
  if (status === 404) return new NotFoundError(what, data, cause);
  const hint =
    status === 401 || status === 403
      ? 'check that the token is valid and may write commit statuses and webhooks on this repository'
      : 'check the request against the provider API';
  return new SluiceError(
    'PROVIDER_REJECTED',
    `${what} was refused with HTTP ${status}${detail ? ` (${detail.slice(0, 200)})` : ''}; ${hint}`,
    { data, cause },
  );
};

/** `owner/name` → its parts, or a clear error. */
export const splitRepo = (repo: string): { owner: string; name: string } => {
  const [owner, name, ...rest] = repo.split('/');
  if (!owner || !name || rest.length > 0) {
    throw new SluiceError('BAD_INPUT', `repository "${repo}" is not "owner/name"; pass the full name`, {
      data: { repo },
    });
  }
  return { owner, name };
};
