/**
 * Gitea, Forgejo and Gogs send the same push payload (GitHub-like) and sign it with a bare hex
 * HMAC-SHA256 of the body: `X-Gitea-Signature`, `X-Forgejo-Signature`, `X-Gogs-Signature`, with
 * `X-<Name>-Event` and `X-<Name>-Delivery` beside it. Branch deletions arrive as a separate
 * `delete` event without a commit id; Sluice ignores it with a reason (the reconciliation poll
 * sees the branch gone).
 */
import { z } from 'zod';
import {
  cloneUrl,
  deliveryIdFrom,
  echo,
  fullRef,
  type RefUpdate,
  repoPath,
  sha40,
  verifyHmacHex,
} from './common.ts';
import { header, normaliseWith, repoAt, type WebhookProvider } from './provider.ts';

export const giteaPushSchema = z.object({
  ref: fullRef,
  before: sha40,
  after: sha40,
  repository: z.object({ full_name: repoPath, clone_url: cloneUrl.optional() }),
  pusher: z.object({ login: z.string().optional(), username: z.string().optional() }).optional(),
  commits: z
    .array(z.object({ id: z.string(), message: z.string() }))
    .max(1000)
    .nullable()
    .optional(),
  head_commit: z.object({ id: z.string(), message: z.string() }).nullable().optional(),
});
type GiteaPush = z.infer<typeof giteaPushSchema>;

const toUpdates = (push: GiteaPush): RefUpdate[] => [
  {
    repo: push.repository.full_name,
    repoUrl: push.repository.clone_url,
    ref: push.ref,
    before: push.before,
    after: push.after,
    forced: false,
    pusher: push.pusher?.login ?? push.pusher?.username,
    message: push.head_commit?.message ?? push.commits?.find((c) => c.id === push.after)?.message,
  },
];

const giteaLike = (name: string, prefix: string, alsoSignature?: string): WebhookProvider => {
  const signature = `x-${prefix}-signature`;
  const signatureOf = (headers: Readonly<Record<string, string | undefined>>) =>
    header(headers, signature) ?? (alsoSignature ? header(headers, alsoSignature) : undefined);
  return {
    name,
    mediaTypes: ['application/json'],
    credential: signature,
    deliveryHeader: `x-${prefix}-delivery`,
    hasCredential: (headers) => signatureOf(headers) !== undefined,
    verify: ({ secrets, headers, body }) => verifyHmacHex(secrets, signatureOf(headers), body),
    repoHint: (payload) => repoAt(payload, 'repository', 'full_name'),
    classify: (headers) => {
      const event = header(headers, `x-${prefix}-event`);
      if (event === undefined) return { kind: 'bad', message: `missing x-${prefix}-event header` };
      if (event === 'push') return { kind: 'push' };
      if (event === 'delete') {
        return {
          kind: 'ignored',
          reason: 'delete events carry no commit id; a deleted branch is seen by the reconciliation poll',
        };
      }
      return {
        kind: 'ignored',
        reason: `event "${echo(event)}" is not handled; only push events are deployed`,
      };
    },
    deliveryId: (headers) => deliveryIdFrom(headers[`x-${prefix}-delivery`]),
    normalise: normaliseWith(giteaPushSchema, toUpdates),
  };
};

export const gitea = giteaLike('gitea', 'gitea');
/** Forgejo sends both its own and Gitea's headers; its own are preferred. */
export const forgejo = giteaLike('forgejo', 'forgejo', 'x-gitea-signature');
export const gogs = giteaLike('gogs', 'gogs');
