/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex>` over the raw body (the SHA-1 `X-Hub-Signature` is
 * legacy and never accepted), `X-GitHub-Event`, `X-GitHub-Delivery`. Bodies come as JSON or, when
 * the hook's content type is `application/x-www-form-urlencoded`, as `payload=<url-encoded JSON>`;
 * the signature covers the raw form bytes.
 */
import { z } from 'zod';
import type { CommitPushed } from '../../schemas/events.ts';
import {
  cloneUrl,
  type DeliveryMeta,
  deliveryIdFrom,
  echo,
  fullRef,
  normaliseRefUpdates,
  type RefUpdate,
  repoPath,
  sha40,
  verifyPrefixedHmac,
  ZERO_SHA,
} from './common.ts';
import { header, normaliseWith, repoAt, type WebhookProvider } from './provider.ts';
import { GITHUB_SIGNATURE_HEADER } from './signature.ts';

export {
  branchOfRef,
  type DeliveryMeta,
  MAX_MESSAGE_LENGTH,
  truncateMessage,
  ZERO_SHA,
} from './common.ts';

export const githubPushSchema = z
  .object({
    ref: fullRef,
    before: sha40,
    after: sha40,
    created: z.boolean(),
    deleted: z.boolean(),
    forced: z.boolean(),
    repository: z.object({ full_name: repoPath, clone_url: cloneUrl.optional() }),
    pusher: z.object({ name: z.string() }).optional(),
    head_commit: z.object({ id: sha40, message: z.string() }).nullable().optional(),
  })
  // A deletion names the old commit in `before`; anything else names the new one in `after`.
  .refine((push) => !push.deleted || push.before !== ZERO_SHA, {
    path: ['before'],
    message: 'is all zeros, but a deleted ref must name the commit it pointed at',
  })
  .refine((push) => push.deleted || push.after !== ZERO_SHA, {
    path: ['after'],
    message: 'is all zeros, but "deleted" is false',
  });

export type GithubPush = z.infer<typeof githubPushSchema>;

const toUpdates = (push: GithubPush): RefUpdate[] => [
  {
    repo: push.repository.full_name,
    repoUrl: push.repository.clone_url,
    ref: push.ref,
    before: push.before,
    after: push.deleted ? ZERO_SHA : push.after,
    forced: push.forced,
    pusher: push.pusher?.name,
    message: push.head_commit?.message,
  },
];

/** One validated GitHub push → its `Commit Pushed` detail, or the reason it is not deployed. */
export const normaliseGithubPush = (
  push: GithubPush,
  meta: DeliveryMeta,
): { kind: 'commit'; detail: CommitPushed } | { kind: 'ignored'; reason: string } => {
  const result = normaliseRefUpdates(toUpdates(push), meta);
  if (result.kind === 'ignored') return result;
  return { kind: 'commit', detail: result.details[0] as CommitPushed };
};

const FORM = 'application/x-www-form-urlencoded';

export const github: WebhookProvider = {
  name: 'github',
  mediaTypes: ['application/json', FORM],
  credential: GITHUB_SIGNATURE_HEADER,
  deliveryHeader: 'x-github-delivery',
  hasCredential: (headers) => header(headers, GITHUB_SIGNATURE_HEADER) !== undefined,
  verify: ({ secrets, headers, body }) => verifyPrefixedHmac(secrets, headers[GITHUB_SIGNATURE_HEADER], body),
  payloadText: (mediaType, text) =>
    mediaType === FORM ? (new URLSearchParams(text).get('payload') ?? undefined) : text,
  repoHint: (payload) => repoAt(payload, 'repository', 'full_name'),
  classify: (headers) => {
    const event = header(headers, 'x-github-event');
    if (event === undefined) return { kind: 'bad', message: 'missing x-github-event header' };
    if (event === 'ping') return { kind: 'ping' };
    if (event === 'push') return { kind: 'push' };
    return {
      kind: 'ignored',
      reason: `event "${echo(event)}" is not handled; only push events are deployed`,
    };
  },
  deliveryId: (headers) => deliveryIdFrom(headers['x-github-delivery']),
  normalise: normaliseWith(githubPushSchema, toUpdates),
};
