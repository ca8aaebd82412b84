/**
 * Ingest: one signed webhook delivery in, at most one `Commit Pushed` out. Everything a sender
 * controls gets an HTTP answer; only bugs and unavailable dependencies throw, and the edge turns
 * those into a 500 or a retryable 503 with `edgeErrorResponse`.
 */
import { isSluiceError } from '../errors.ts';
import type { Clock, EventBus, IdempotencyStore } from '../ports/index.ts';
import { commitPushed } from '../schemas/events.ts';
import { formatPath } from './config.ts';
import { githubPushSchema, normaliseGithubPush } from './webhooks/github.ts';
import { GITHUB_SIGNATURE_HEADER, verifyGithub } from './webhooks/signature.ts';

/** Largest body accepted (GitHub caps payloads at 25 MB but a push that big is not one we can use). */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;
/** How long a delivery id is remembered; GitHub redeliveries happen within hours, not days. */
export const DELIVERY_TTL_SECONDS = 86_400;
export const SUPPORTED_PROVIDERS: readonly string[] = ['github'];

export interface IngestDeps {
  readonly bus: EventBus;
  readonly deliveries: IdempotencyStore;
  readonly clock: Clock;
  /** Current and, during a rotation, previous secrets; empty when none is configured. */
  readonly webhookSecrets: (provider: string) => Promise<string[]>;
  readonly newTraceId: () => string;
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
}

const answer = (status: number, body: Record<string, unknown>): IngestResponse => ({ status, body });
const fail = (status: number, error: string, message: string, extra: Record<string, unknown> = {}) =>
  answer(status, { error, message, ...extra });

/** Only short, plain tokens from the request are ever repeated back to the sender. */
const echo = (value: string | undefined): string | undefined =>
  value !== undefined && /^[\w.-]{1,64}$/.test(value) ? value : undefined;

const describeMediaType = (type: string | undefined): string =>
  type === undefined
    ? '(none)'
    : /^[\w.+-]{1,64}\/[\w.+-]{1,64}$/.test(type)
      ? `"${type}"`
      : '(unrecognised)';
const DELIVERY_ID = /^[\x21-\x7e]{1,128}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

const mediaType = (value: string | undefined): string | undefined =>
  value?.split(';')[0]?.trim().toLowerCase() || undefined;

export const ingestWebhook = async (deps: IngestDeps, request: IngestRequest): Promise<IngestResponse> => {
  const { provider, headers, body } = request;
  if (!SUPPORTED_PROVIDERS.includes(provider)) {
    return fail(404, 'unknown_provider', `no webhook provider "${echo(provider) ?? '?'}"`, {
      supported: SUPPORTED_PROVIDERS,
    });
  }

  const contentType = mediaType(headers['content-type']);
  if (contentType !== 'application/json') {
    const form = contentType === 'application/x-www-form-urlencoded';
    return fail(
      415,
      'unsupported_media_type',
      `${form ? 'form-encoded payloads are not supported yet' : `content type ${describeMediaType(contentType)} is not supported`}; choose "application/json" as the Content type in the webhook settings`,
    );
  }

  // Authenticate before looking inside the body: nothing unsigned is ever parsed.
  const secrets = (await deps.webhookSecrets(provider)).filter((secret) => secret.length > 0);
  if (secrets.length === 0) {
    return fail(
      401,
      'unauthorized',
      `no webhook secret is configured for provider "${provider}"; store one and register the webhook with it (sluice webhook register)`,
    );
  }
  const signature = headers[GITHUB_SIGNATURE_HEADER];
  if (signature === undefined || signature === '') {
    return fail(
      401,
      'unauthorized',
      `missing ${GITHUB_SIGNATURE_HEADER} header; set the secret in the webhook settings to the one Sluice holds`,
    );
  }
  if (!verifyGithub(secrets, signature, body)) {
    return fail(
      401,
      'unauthorized',
      `${GITHUB_SIGNATURE_HEADER} does not match the body; check that the webhook secret equals the one Sluice holds`,
    );
  }

  if (body.byteLength > MAX_WEBHOOK_BODY_BYTES) {
    return fail(
      413,
      'payload_too_large',
      `body is ${body.byteLength} bytes; the limit is ${MAX_WEBHOOK_BODY_BYTES}`,
    );
  }

  let payload: unknown;
  try {
    payload = JSON.parse(utf8.decode(body));
  } catch {
    // The parser's message quotes the body, so it is not passed on.
    return fail(400, 'bad_request', 'body is not valid UTF-8 JSON');
  }

  const event = headers['x-github-event'];
  if (event === undefined || event === '') {
    return fail(400, 'bad_request', 'missing x-github-event header');
  }
  if (event === 'ping') return answer(200, { status: 'pong' });
  if (event !== 'push') {
    return answer(200, {
      status: 'ignored',
      reason: `event "${echo(event) ?? '?'}" is not handled; only push events are deployed`,
    });
  }

  const parsed = githubPushSchema.safeParse(payload);
  if (!parsed.success) return invalidField('push payload', parsed.error.issues[0]);

  const deliveryId = headers['x-github-delivery'];
  if (deliveryId === undefined || !DELIVERY_ID.test(deliveryId)) {
    return fail(
      400,
      'bad_request',
      `${deliveryId === undefined ? 'missing' : 'malformed'} x-github-delivery header; it must be 1-128 printable characters`,
    );
  }

  const normalised = normaliseGithubPush(parsed.data, {
    provider,
    deliveryId,
    traceId: deps.newTraceId(),
    receivedAt: deps.clock.now(),
  });
  if (normalised.kind === 'ignored') return answer(200, { status: 'ignored', reason: normalised.reason });

  // Belt and braces: the push schema should make this unreachable, but a sender must get a 400, not a 500.
  const detail = commitPushed.safeParse(normalised.detail);
  if (!detail.success) return invalidField('normalised push', detail.error.issues[0]);

  if (!(await deps.deliveries.claim(`${provider}:${deliveryId}`, DELIVERY_TTL_SECONDS))) {
    return answer(200, { status: 'duplicate', deliveryId });
  }
  // A failed publish gives the claim back, so the sender's retry of this delivery is not taken
  // for a duplicate: the edge answers 503 and the push is never lost.
  try {
    await deps.bus.publish([{ detailType: 'Commit Pushed', detail: detail.data }]);
  } catch (error) {
    await deps.deliveries.release(`${provider}:${deliveryId}`);
    throw error;
  }
  return answer(202, { status: 'accepted', traceId: detail.data.traceId });
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
