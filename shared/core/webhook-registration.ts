/**
 * `sluice webhook`: registers, lists, rotates and removes a repository's push webhook on its Git
 * provider, with the secret kept in a SecretStore and never shown unless asked.
 *
 * The secret of (provider, repo) is one secret document at `secretRef` with the fields
 * `current`, and during a rotation `previous` and `previousUntil` (ISO time): the ingest accepts
 * both until then (`webhookSecretsFor`).
 */
import { BadInputError, isSluiceError, NotFoundError } from '../errors.ts';
import type { Clock, SecretStore, WebhookAdmin, WebhookHook, WritableSecretStore } from '../ports/index.ts';

/** Where each repo's own webhook secret lives; the deployed ingest may read only names under it. */
export const WEBHOOK_SECRET_PREFIX = 'sluice/webhooks/';

/**
 * Where `register` keeps the secret when no `--secret-ref` is given: a plain name (the dev
 * workdir's store), and the Secrets Manager name the deployed ingest looks the repo up by.
 */
export const defaultWebhookSecretRef = (provider: string, repo: string): string =>
  `${WEBHOOK_SECRET_PREFIX}${provider}/${repo}`;

/** How long `rotate` keeps accepting the old secret. @default one day */
export const DEFAULT_ROTATION_WINDOW_SECONDS = 86_400;

export interface WebhookAdminDeps {
  readonly admin: WebhookAdmin;
}

export interface WebhookSecretDeps extends WebhookAdminDeps {
  readonly secrets: WritableSecretStore;
  readonly clock: Clock;
  /** A fresh random secret (the CLI: 32 random bytes, hex). */
  readonly newSecret: () => string;
}

export interface WebhookTarget {
  readonly repo: string;
  readonly url: string;
  /** The secret document, without `#field`. */
  readonly secretRef: string;
}

const field = async (store: SecretStore, ref: string, name: string): Promise<string | undefined> => {
  try {
    return await store.get(`${ref}#${name}`);
  } catch (error) {
    if (isSluiceError(error) && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
};

/**
 * The secrets the ingest accepts for a repo registered at `ref`: the current one and, until its
 * `previousUntil` has passed, the previous one. Empty when nothing is stored there.
 */
export const webhookSecretsFor = async (store: SecretStore, clock: Clock, ref: string): Promise<string[]> => {
  const [current, previous, until] = await Promise.all(
    ['current', 'previous', 'previousUntil'].map((name) => field(store, ref, name)),
  );
  const previousValid =
    previous !== undefined && (until === undefined || Date.parse(until) > clock.now().getTime());
  return [current, previousValid ? previous : undefined].filter(
    (s): s is string => s !== undefined && s !== '',
  );
};

/**
 * A repo name whose secret may be looked up: path segments of letters, digits, `.`, `_` and `-`
 * (valid in Secrets Manager names and Vault paths), none of them only dots. The name comes from
 * the unauthenticated body, so anything else is never turned into a lookup.
 */
const LOOKUP_SAFE_REPO = /^(?!.*(^|\/)\.+(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export interface RepoWebhookSecretsOptions {
  readonly store: SecretStore;
  readonly clock: Clock;
  /** The secrets of repos that have none of their own (the stack's shared webhook secret). */
  readonly fallback: (provider: string) => Promise<string[]>;
  /** Where a repo's own secret lives. @default defaultWebhookSecretRef */
  readonly refFor?: (provider: string, repo: string) => string;
}

/**
 * The ingest's `webhookSecrets`: a repo's own secret (what `sluice webhook register|rotate`
 * stored: current, and previous until previousUntil) when there is one, else the fallback. A repo
 * with its own secret is never accepted with the shared one.
 */
export const repoWebhookSecrets =
  (options: RepoWebhookSecretsOptions) =>
  async (provider: string, repo?: string): Promise<string[]> => {
    if (repo !== undefined && LOOKUP_SAFE_REPO.test(repo)) {
      const refFor = options.refFor ?? defaultWebhookSecretRef;
      const own = await webhookSecretsFor(options.store, options.clock, refFor(provider, repo));
      if (own.length > 0) return own;
    }
    return options.fallback(provider);
  };

/**
 * A hook URL Sluice will register: https, or http only to this machine; no credentials, no
 * fragment. Returns the normalised URL and warnings (a path that is not `/webhooks/<provider>`).
 */
export const checkHookUrl = (url: string, provider: string): { url: string; warnings: string[] } => {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BadInputError(
      `--url ${url}`,
      'is not a URL',
      `pass e.g. https://sluice.example.com/webhooks/${provider}`,
    );
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
    throw new BadInputError(
      `--url ${url}`,
      'is not https (providers would send the secret or signed bodies in the clear)',
      `use https://…/webhooks/${provider}; plain http is allowed only to 127.0.0.1/localhost`,
    );
  }
  if (parsed.username || parsed.password || parsed.hash) {
    throw new BadInputError(
      `--url ${parsed.host}`,
      'carries credentials or a #fragment',
      'pass the bare endpoint URL',
    );
  }
  const warnings = parsed.pathname.endsWith(`/webhooks/${provider}`)
    ? []
    : [
        `the URL path ${parsed.pathname} does not end with /webhooks/${provider}, the path Sluice serves ${provider} on`,
      ];
  return { url: parsed.href, warnings };
};

const sameUrl = (a: string, b: string): boolean => {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return a === b;
  }
};

const hooksFor = async (admin: WebhookAdmin, repo: string, url: string): Promise<WebhookHook[]> =>
  (await admin.list(repo)).filter((hook) => sameUrl(hook.url, url));

export interface RegisterResult {
  readonly action: 'created' | 'updated';
  readonly hook: WebhookHook;
  /** False when the secret already stored at the ref was reused (a repeated register). */
  readonly secretCreated: boolean;
  /** Other hooks with the same URL (registered by hand before): they deliver every push twice. */
  readonly duplicates: readonly WebhookHook[];
  readonly warnings: readonly string[];
  /** The secret, for `--show-secret` only; never print it otherwise. */
  readonly secret: string;
}

/**
 * Creates the repo's hook for `url`, or updates the one already there (found by URL), so running
 * it twice leaves one hook. The secret is stored before the provider sees it; a secret already
 * stored at the ref is reused.
 */
export const registerWebhook = async (
  deps: WebhookSecretDeps,
  input: WebhookTarget,
): Promise<RegisterResult> => {
  const { url, warnings } = checkHookUrl(input.url, deps.admin.provider);
  const [existing, ...duplicates] = await hooksFor(deps.admin, input.repo, url);
  const stored = await field(deps.secrets, input.secretRef, 'current');
  const secret = stored ?? deps.newSecret();
  if (stored === undefined) await deps.secrets.put(input.secretRef, { current: secret });
  const hook = existing
    ? await deps.admin.update(input.repo, existing.id, { url, secret })
    : await deps.admin.create(input.repo, { url, secret });
  return {
    action: existing ? 'updated' : 'created',
    hook,
    secretCreated: stored === undefined,
    duplicates,
    warnings,
    secret,
  };
};

export interface RotateResult {
  readonly hooks: readonly WebhookHook[];
  /** Until when the old secret is still accepted. */
  readonly previousUntil: string;
  readonly secret: string;
}

/**
 * A new secret for the repo's hook(s) at `url`. The store gets it first, with the old one as
 * `previous` until the window ends, so deliveries signed with either are accepted while the
 * provider switches over.
 */
export const rotateWebhookSecret = async (
  deps: WebhookSecretDeps,
  input: WebhookTarget & { readonly windowSeconds?: number },
): Promise<RotateResult> => {
  const { url } = checkHookUrl(input.url, deps.admin.provider);
  const hooks = await hooksFor(deps.admin, input.repo, url);
  if (hooks.length === 0) {
    throw new NotFoundError(`${deps.admin.provider} webhook for ${url} on ${input.repo}`, {
      repo: input.repo,
      url,
      fix: 'run sluice webhook register first',
    });
  }
  const old = await field(deps.secrets, input.secretRef, 'current');
  if (old === undefined) {
    throw new NotFoundError(`webhook secret at ${input.secretRef}`, {
      ref: input.secretRef,
      fix: 'pass the --secret-ref that register used, or run sluice webhook register to store one',
    });
  }
  const secret = deps.newSecret();
  const windowMs = (input.windowSeconds ?? DEFAULT_ROTATION_WINDOW_SECONDS) * 1000;
  const previousUntil = new Date(deps.clock.now().getTime() + windowMs).toISOString();
  await deps.secrets.put(input.secretRef, { current: secret, previous: old, previousUntil });
  const updated: WebhookHook[] = [];
  for (const hook of hooks) updated.push(await deps.admin.update(input.repo, hook.id, { url, secret }));
  return { hooks: updated, previousUntil, secret };
};

/** The repo's hooks (no secrets: providers never return them). */
export const listWebhooks = (
  deps: WebhookAdminDeps,
  input: { readonly repo: string },
): Promise<WebhookHook[]> => deps.admin.list(input.repo);

/** Deletes every hook of the repo at `url`; none there is not an error (it is already gone). */
export const unregisterWebhook = async (
  deps: WebhookAdminDeps,
  input: { readonly repo: string; readonly url: string },
): Promise<{ deleted: readonly WebhookHook[] }> => {
  const hooks = await hooksFor(deps.admin, input.repo, input.url);
  for (const hook of hooks) await deps.admin.delete(input.repo, hook.id);
  return { deleted: hooks };
};
