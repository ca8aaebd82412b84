/**
 * Ingest: one webhook delivery in, `Commit Pushed` events out. The same steps run for every
 * provider in the table (shared/core/webhooks/index.ts): size cap, media type, the repo's secrets,
 * authentication in constant time, rate limit, event kind, delivery-id dedupe, normalisation.
 * Everything a sender controls gets a 2xx/4xx answer; only bugs and unavailable dependencies
 * throw, and the edge turns those into a 500 or a retryable 503 with `edgeErrorResponse`.
 */
import { isSluiceError } from '../errors.ts';
import type { Clock, EventBus, IdempotencyStore, PlanIntake, ReconcileTrigger } from '../ports/index.ts';
import { type CommitPushed, commitPushed } from '../schemas/events.ts';
import { formatPath } from './config.ts';
import { REPOS_FIX, type RepoCatalog, repoNotConfigured } from './repos.ts';
import { echo } from './webhooks/common.ts';
import { PROVIDER_NAMES, WEBHOOK_PROVIDERS } from './webhooks/index.ts';
import type { RateLimiter } from './webhooks/rate-limit.ts';

/** Largest body accepted (GitHub caps payloads at 25 MB but a push that big is not one we can use). */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;
/** How long a delivery id is remembered; GitHub redeliveries happen within hours, not days. */
export const DELIVERY_TTL_SECONDS = 86_400;
export const SUPPORTED_PROVIDERS: readonly string[] = PROVIDER_NAMES;

export interface IngestDeps {
  readonly bus: EventBus;
  readonly deliveries: IdempotencyStore;
  readonly clock: Clock;
  /**
   * The current and, during a rotation, the previous secret for `repo` at `provider` (for Azure
   * DevOps the basic-auth password, for GitLab the token). `repo` is what the unauthenticated
   * payload claims; ingest checks the authenticated event names the same repo. Empty when none is
   * configured: the delivery is then refused, a secret is mandatory.
   */
  readonly webhookSecrets: (provider: string, repo?: string) => Promise<string[]>;
  readonly newTraceId: () => string;
  /** Per provider+repo limit; 429 when a bucket is empty. None means unlimited. */
  readonly rateLimiter?: RateLimiter;
  /**
   * The plan queue, grouped per repo+branch (AWS). Without it the planner is fed from the bus
   * (the local runner's rule groups by repo+branch itself).
   */
  readonly planIntake?: PlanIntake;
  /**
   * Asked to poll the repo's branches once the rate limit lets up, when an authenticated push is
   * answered 429: the head is then planned within seconds even if the sender never redelivers.
   */
  readonly reconcile?: ReconcileTrigger;
  /**
   * The repos that may deploy (the deployment config). When set, a push naming any other repo is
   * refused with 403 and never published (so never cloned), and every `Commit Pushed` carries the
   * configured clone URL, whatever URL the payload names. Without it the payload's URL is used.
   */
  readonly repos?: RepoCatalog;
}

export interface IngestRequest {
  readonly provider: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The raw bytes as received: the signature covers these, not a re-serialisation. */
  readonly body: Uint8Array;
}

export interface IngestResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** Extra response headers, e.g. `retry-after` with a 429. */
  readonly headers?: Readonly<Record<string, string>>;
}

const answer = (status: number, body: Record<string, unknown>): IngestResponse => ({ status, body });
const fail = (status: number, error: string, message: string, extra: Record<string, unknown> = {}) =>
  answer(status, { error, message, ...extra });

const describeMediaType = (type: string | undefined): string =>
  type === undefined
    ? '(none)'
    : /^[\w.+-]{1,64}\/[\w.+-]{1,64}$/.test(type)
      ? `"${type}"`
      : '(unrecognised)';
const utf8 = new TextDecoder('utf-8', { fatal: true });

const mediaType = (value: string | undefined): string | undefined =>
  value?.split(';')[0]?.trim().toLowerCase() || undefined;

/** The JSON inside the body, or undefined; never throws (nothing here is authenticated yet). */
const parsePayload = (text: string | undefined): unknown => {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

export const ingestWebhook = async (deps: IngestDeps, request: IngestRequest): Promise<IngestResponse> => {
  const { headers, body } = request;
  const provider = WEBHOOK_PROVIDERS.get(request.provider);
  if (provider === undefined) {
    return fail(404, 'unknown_provider', `no webhook provider "${echo(request.provider)}"`, {
      supported: SUPPORTED_PROVIDERS,
    });
  }
  const name = provider.name;

  if (body.byteLength > MAX_WEBHOOK_BODY_BYTES) {
    return fail(
      413,
      'payload_too_large',
      `body is ${body.byteLength} bytes; the limit is ${MAX_WEBHOOK_BODY_BYTES}`,
    );
  }

  const contentType = mediaType(headers['content-type']);
  if (contentType === undefined || !provider.mediaTypes.includes(contentType)) {
    return fail(
      415,
      'unsupported_media_type',
      `content type ${describeMediaType(contentType)} is not supported for ${name}; choose ${provider.mediaTypes.map((t) => `"${t}"`).join(' or ')} in the webhook settings`,
    );
  }

  // The body is read before authentication only to learn which repo's secret applies; nothing in
  // it is trusted or answered on until the credential checks out.
  let text: string | undefined;
  try {
    text = utf8.decode(body);
  } catch {
    text = undefined;
  }
  const payloadText =
    text === undefined ? undefined : provider.payloadText ? provider.payloadText(contentType, text) : text;
  const payload = parsePayload(payloadText);
  const claimedRepo = provider.repoHint(payload);

  const secrets = (await deps.webhookSecrets(name, claimedRepo)).filter((secret) => secret.length > 0);
  if (secrets.length === 0) {
    return fail(
      401,
      'unauthorized',
      `no webhook secret is configured for ${name}${claimedRepo === undefined ? '' : ` repository "${claimedRepo}"`}; store one for this repository and set the same secret in the provider's webhook settings (docs/providers)`,
    );
  }
  if (!provider.hasCredential(headers)) {
    return fail(
      401,
      'unauthorized',
      `missing ${provider.credential} header; set the secret in the webhook settings to the one Sluice holds`,
    );
  }
  if (!provider.verify({ secrets, headers, body, now: deps.clock.now() })) {
    return fail(
      401,
      'unauthorized',
      `${provider.credential} does not match; check that the webhook secret equals the one Sluice holds`,
    );
  }

  if (payload === undefined) {
    // The parser's message quotes the body, so it is not passed on.
    return fail(400, 'bad_request', 'body is not valid UTF-8 JSON');
  }

  if (deps.rateLimiter) {
    const verdict = deps.rateLimiter.take(`${name}:${claimedRepo ?? '*'}`);
    if (!verdict.allowed) {
      // Authenticated, so the repo is real: a failure to schedule leaves the 429 (and the sender's retry).
      await deps.reconcile
        ?.request({
          ...(claimedRepo ? { repo: claimedRepo } : {}),
          delaySeconds: verdict.retryAfterSeconds,
          requestedBy: 'throttled-push',
        })
        .catch(() => undefined);
      return {
        status: 429,
        body: {
          error: 'too_many_requests',
          message: `too many deliveries for ${claimedRepo ?? name}; retry after ${verdict.retryAfterSeconds} s`,
        },
        headers: { 'retry-after': String(verdict.retryAfterSeconds) },
      };
    }
  }

  const kind = provider.classify(headers, payload);
  if (kind.kind === 'bad') return fail(400, 'bad_request', kind.message);
  if (kind.kind === 'ping') return answer(200, { status: 'pong' });
  if (kind.kind === 'ignored') return answer(200, { status: 'ignored', reason: kind.reason });

  const deliveryId = provider.deliveryId(headers, payload, body);
  if (deliveryId === undefined) {
    return fail(
      400,
      'bad_request',
      `missing or malformed ${provider.deliveryHeader} header; it must be 1-128 printable characters`,
    );
  }

  const normalised = provider.normalise(payload, {
    provider: name,
    deliveryId,
    traceId: deps.newTraceId(),
    receivedAt: deps.clock.now(),
  });
  if (normalised.kind === 'invalid') return invalidField('push payload', normalised.issue);
  if (normalised.kind === 'ignored') return answer(200, { status: 'ignored', reason: normalised.reason });

  const details: CommitPushed[] = [];
  for (const pushed of normalised.details) {
    // Clone URLs come from configuration, never from the payload: an unconfigured repo is refused
    // here, before anything is published or cloned.
    const configured = deps.repos?.find(pushed.repo);
    if (deps.repos && configured === undefined) {
      return fail(403, 'repo_not_configured', repoNotConfigured(pushed.repo), { repo: pushed.repo });
    }
    const repoUrl = configured?.url ?? pushed.repoUrl;
    if (repoUrl === undefined) {
      return fail(
        400,
        'bad_request',
        `the push names no clone URL for ${JSON.stringify(pushed.repo)} and Sluice has none configured; ${REPOS_FIX}`,
      );
    }
    const candidate = { ...pushed, repoUrl };
    // Belt and braces: the push schemas should make this unreachable, but a sender must get a 400, not a 500.
    const detail = commitPushed.safeParse(candidate);
    if (!detail.success) return invalidField('normalised push', detail.error.issues[0]);
    if (claimedRepo !== undefined && detail.data.repo !== claimedRepo) {
      return fail(
        400,
        'bad_request',
        'the push names a different repository than the one its secret belongs to',
      );
    }
    details.push(detail.data);
  }

  const key = `${name}:${deliveryId}`;
  if (!(await deps.deliveries.claim(key, DELIVERY_TTL_SECONDS))) {
    return answer(200, { status: 'duplicate', deliveryId });
  }
  // A failed publish gives the claim back, so the sender's retry of this delivery is not taken
  // for a duplicate: the edge answers 503 and the push is never lost.
  try {
    // The plan queue first: a retry after a failed publish is then dropped by its deduplication.
    await deps.planIntake?.submit(
      details.map((detail) => ({ detail, deduplicationId: `${key}#${detail.branch}` })),
    );
    await deps.bus.publish(details.map((detail) => ({ detailType: 'Commit Pushed' as const, detail })));
  } catch (error) {
    await deps.deliveries.release(key);
    throw error;
  }
  return answer(202, {
    status: 'accepted',
    traceId: details[0]?.traceId,
    ...(details.length > 1 ? { branches: details.map((d) => d.branch) } : {}),
  });
};

const invalidField = (
  what: string,
  issue: { path: readonly PropertyKey[]; message: string } | undefined,
): IngestResponse => {
  const field = issue === undefined || issue.path.length === 0 ? '(body)' : formatPath(issue.path);
  return fail(400, 'bad_request', `${what} field "${field}": ${issue?.message ?? 'is invalid'}`, { field });
};

/**
 * What an HTTP edge answers when ingest throws: 503 for a retryable failure (a dependency is down;
 * the sender should redeliver), otherwise a bare 500. Neither carries the error's message.
 */
export const edgeErrorResponse = (error: unknown): IngestResponse =>
  isSluiceError(error) && error.retryable
    ? answer(503, { error: 'unavailable', retryable: true })
    : answer(500, { error: 'internal' });
