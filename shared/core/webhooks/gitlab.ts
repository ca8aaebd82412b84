/**
 * GitLab: the secret token arrives as is in `X-Gitlab-Token` (compared in constant time). Where the
 * hook has a signing token, GitLab signs per the Standard Webhooks scheme: `webhook-signature:
 * v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`; a signed delivery is
 * checked by its signature (and a timestamp within five minutes) instead of the token.
 * Events: `X-Gitlab-Event: Push Hook | Tag Push Hook | System Hook`; ids: `X-Gitlab-Event-UUID`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import {
  bodyDeliveryId,
  cloneUrl,
  deliveryIdFrom,
  echo,
  fullRef,
  type Headers,
  type RefUpdate,
  repoPath,
  sha40,
  verifyToken,
} from './common.ts';
import { header, normaliseWith, pick, repoAt, type VerifyInput, type WebhookProvider } from './provider.ts';

/** How far a signed delivery's timestamp may be from now, either way. */
export const GITLAB_SIGNATURE_TOLERANCE_SECONDS = 300;

export const gitlabPushSchema = z.object({
  object_kind: z.enum(['push', 'tag_push']).optional(),
  ref: fullRef,
  before: sha40,
  after: sha40,
  user_username: z.string().optional(),
  user_name: z.string().optional(),
  project: z.object({ path_with_namespace: repoPath, git_http_url: cloneUrl.optional() }),
  commits: z
    .array(z.object({ id: z.string(), message: z.string() }))
    .max(1000)
    .optional(),
});
type GitlabPush = z.infer<typeof gitlabPushSchema>;

const toUpdates = (push: GitlabPush): RefUpdate[] => [
  {
    repo: push.project.path_with_namespace,
    repoUrl: push.project.git_http_url,
    ref: push.ref,
    before: push.before,
    after: push.after,
    // GitLab does not say whether a push was forced; the planner diffs against what it planned.
    forced: false,
    pusher: push.user_username ?? push.user_name,
    message: push.commits?.find((commit) => commit.id === push.after)?.message,
  },
];

/** The HMAC key of a signing token: Standard Webhooks' `whsec_<base64>` form, or the token's bytes. */
const signingKey = (secret: string): Buffer =>
  secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');

const verifySigned = ({ secrets, headers, body, now }: VerifyInput): boolean => {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (id === undefined || timestamp === undefined || signatures === undefined) return false;
  if (!/^\d{1,12}$/.test(timestamp) || id.length > 256) return false;
  if (Math.abs(now.getTime() / 1000 - Number(timestamp)) > GITLAB_SIGNATURE_TOLERANCE_SECONDS) return false;
  const given = signatures
    .split(' ')
    .slice(0, 8)
    .map((entry) => /^v1,([A-Za-z0-9+/]{43}=)$/.exec(entry)?.[1])
    .filter((b64): b64 is string => b64 !== undefined)
    .map((b64) => Buffer.from(b64, 'base64'));
  let valid = false;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const expected = createHmac('sha256', signingKey(secret))
      .update(`${id}.${timestamp}.`)
      .update(body)
      .digest();
    for (const signature of given) {
      if (signature.length === expected.length && timingSafeEqual(signature, expected)) valid = true;
    }
  }
  return valid;
};

const isSigned = (headers: Headers): boolean => header(headers, 'webhook-signature') !== undefined;

export const gitlab: WebhookProvider = {
  name: 'gitlab',
  mediaTypes: ['application/json'],
  credential: 'x-gitlab-token (or webhook-signature)',
  deliveryHeader: 'x-gitlab-event-uuid',
  hasCredential: (headers) => isSigned(headers) || header(headers, 'x-gitlab-token') !== undefined,
  verify: (input) =>
    isSigned(input.headers)
      ? verifySigned(input)
      : verifyToken(input.secrets, input.headers['x-gitlab-token']),
  repoHint: (payload) => repoAt(payload, 'project', 'path_with_namespace'),
  classify: (headers, payload) => {
    const event = header(headers, 'x-gitlab-event');
    if (event === undefined) return { kind: 'bad', message: 'missing x-gitlab-event header' };
    if (event === 'Push Hook' || event === 'Tag Push Hook') return { kind: 'push' };
    const kind = pick(payload, 'object_kind');
    if (event === 'System Hook' && (kind === 'push' || kind === 'tag_push')) return { kind: 'push' };
    return {
      kind: 'ignored',
      reason: `event "${echo(event.replaceAll(' ', '_'))}" is not handled; only push events are deployed`,
    };
  },
  deliveryId: (headers, _payload, body) =>
    deliveryIdFrom(headers['x-gitlab-event-uuid']) ??
    deliveryIdFrom(headers['idempotency-key']) ??
    deliveryIdFrom(headers['webhook-id']) ??
    bodyDeliveryId(body),
  normalise: normaliseWith(gitlabPushSchema, toUpdates),
};
