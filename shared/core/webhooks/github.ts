/**
 * GitHub push webhooks: the payload schema (only the fields Sluice reads) and the pure mapping to a
 * `Commit Pushed` detail. Nothing here does I/O, so later providers can reuse the helpers.
 */
import { z } from 'zod';
import { type CommitPushed, SCHEMA_VERSION } from '../../schemas/events.ts';

/** The all-zero id a provider sends as `before` for a new ref and as `after` for a deleted one. */
export const ZERO_SHA = '0'.repeat(40);
/** `Commit Pushed` caps the head commit message; longer ones are cut, not rejected. */
export const MAX_MESSAGE_LENGTH = 2000;

const BRANCH_PREFIX = 'refs/heads/';
const TAG_PREFIX = 'refs/tags/';

const sha40 = z.string().regex(/^[0-9a-f]{40}$/, 'must be a 40-character lower-case hex commit id');

/** Clone URLs end up in events and logs, so only plain http(s) URLs without credentials get through. */
const cloneUrl = z.string().refine(
  (value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return (
      (url.protocol === 'https:' || url.protocol === 'http:') && url.username === '' && url.password === ''
    );
  },
  { message: 'must be an http(s) clone URL without credentials' },
);

export const githubPushSchema = z
  .object({
    ref: z
      .string()
      .regex(/^refs\/\S+$/, 'must be a full ref such as refs/heads/main')
      .refine((ref) => ref !== BRANCH_PREFIX && ref !== TAG_PREFIX, { message: 'names no branch or tag' }),
    before: sha40,
    after: sha40,
    created: z.boolean(),
    deleted: z.boolean(),
    forced: z.boolean(),
    repository: z.object({
      full_name: z.string().regex(/^[^/\s]+\/[^/\s]+$/, 'must be "owner/name"'),
      clone_url: cloneUrl,
    }),
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

export type PushNormalisation =
  | { readonly kind: 'commit'; readonly detail: CommitPushed }
  | { readonly kind: 'ignored'; readonly reason: string };

/** What the normaliser needs from the delivery around the payload. */
export interface DeliveryMeta {
  readonly provider: string;
  readonly deliveryId: string;
  readonly traceId: string;
  readonly receivedAt: Date;
}

/** The branch a ref names, or a reason the ref is not deployed (tags are a later feature). */
export const branchOfRef = (ref: string): { branch: string } | { ignored: string } => {
  if (ref.startsWith(BRANCH_PREFIX)) return { branch: ref.slice(BRANCH_PREFIX.length) };
  if (ref.startsWith(TAG_PREFIX)) {
    return { ignored: 'tag pushes are not deployed yet; Sluice deploys branch pushes (refs/heads/*) only' };
  }
  return { ignored: 'only branch pushes (refs/heads/*) are deployed' };
};

/** Cuts a commit message to `max` UTF-16 units, marking the cut and never splitting a surrogate pair. */
export const truncateMessage = (message: string, max = MAX_MESSAGE_LENGTH): string => {
  if (message.length <= max) return message;
  let cut = message.slice(0, max - 1);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return `${cut}…`;
};

/**
 * Maps a validated push to the `Commit Pushed` detail. A branch deletion is still published
 * (`deleted: true`, `commit` = the old head): deciding what a deletion means is the planner's job.
 */
export const normaliseGithubPush = (push: GithubPush, meta: DeliveryMeta): PushNormalisation => {
  const target = branchOfRef(push.ref);
  if ('ignored' in target) return { kind: 'ignored', reason: target.ignored };
  const at = meta.receivedAt.toISOString();
  const message = push.head_commit?.message;
  return {
    kind: 'commit',
    detail: {
      schemaVersion: SCHEMA_VERSION,
      traceId: meta.traceId,
      repo: push.repository.full_name,
      branch: target.branch,
      commit: push.deleted ? push.before : push.after,
      before: push.before,
      ref: push.ref,
      forced: push.forced,
      deleted: push.deleted,
      deliveryId: meta.deliveryId,
      provider: meta.provider,
      repoUrl: push.repository.clone_url,
      ...(push.pusher === undefined ? {} : { pusher: push.pusher.name }),
      ...(message === undefined ? {} : { message: truncateMessage(message) }),
      occurredAt: at,
      receivedAt: at,
    },
  };
};
