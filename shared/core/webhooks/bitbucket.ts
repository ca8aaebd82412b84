/**
 * Bitbucket Cloud (`/webhooks/bitbucket`) and Bitbucket Data Center/Server
 * (`/webhooks/bitbucket-server`). Both sign with `X-Hub-Signature: sha256=<hex>` over the raw body
 * when the hook has a secret, name the event in `X-Event-Key` (`repo:push`;
 * `repo:refs_changed` and `diagnostics:ping` on Data Center) and the delivery in
 * `X-Request-UUID` (Cloud) or `X-Request-Id` (Data Center). One push may change several refs.
 */
import { z } from 'zod';
import {
  bodyDeliveryId,
  cloneUrl,
  deliveryIdFrom,
  echo,
  type RefUpdate,
  repoPath,
  sha40,
  verifyPrefixedHmac,
  ZERO_SHA,
} from './common.ts';
import { header, normaliseWith, pick, type WebhookProvider } from './provider.ts';

const SIGNATURE = 'x-hub-signature';
const refName = z.string().min(1).max(1000);

const cloudRef = z
  .object({
    type: z.string(),
    name: refName,
    target: z.object({ hash: sha40, message: z.string().optional() }),
  })
  .nullable();

export const bitbucketPushSchema = z.object({
  actor: z.object({ display_name: z.string().optional(), nickname: z.string().optional() }).optional(),
  repository: z.object({ full_name: repoPath }),
  push: z.object({
    changes: z
      .array(z.object({ new: cloudRef, old: cloudRef, forced: z.boolean().optional() }))
      .min(1)
      .max(100),
  }),
});
type BitbucketPush = z.infer<typeof bitbucketPushSchema>;

/** Bitbucket Cloud lives at bitbucket.org only; its payload carries no clone URL. */
const cloudCloneUrl = (fullName: string) => `https://bitbucket.org/${fullName}.git`;

const cloudRefName = (ref: NonNullable<z.infer<typeof cloudRef>>): string =>
  ref.type === 'branch'
    ? `refs/heads/${ref.name}`
    : ref.type.endsWith('tag')
      ? `refs/tags/${ref.name}`
      : ref.name;

const cloudUpdates = (push: BitbucketPush): RefUpdate[] =>
  push.push.changes.flatMap((change) => {
    const ref = change.new ?? change.old;
    if (ref === null) return [];
    return [
      {
        repo: push.repository.full_name,
        repoUrl: cloudCloneUrl(push.repository.full_name),
        ref: cloudRefName(ref),
        before: change.old?.target.hash ?? ZERO_SHA,
        after: change.new?.target.hash ?? ZERO_SHA,
        forced: change.forced ?? false,
        pusher: push.actor?.nickname ?? push.actor?.display_name,
        message: change.new?.target.message,
      },
    ];
  });

const eventKey = (headers: Readonly<Record<string, string | undefined>>) => header(headers, 'x-event-key');

export const bitbucket: WebhookProvider = {
  name: 'bitbucket',
  mediaTypes: ['application/json'],
  credential: SIGNATURE,
  deliveryHeader: 'x-request-uuid',
  hasCredential: (headers) => header(headers, SIGNATURE) !== undefined,
  verify: ({ secrets, headers, body }) => verifyPrefixedHmac(secrets, headers[SIGNATURE], body),
  repoHint: (payload) => {
    const name = pick(payload, 'repository', 'full_name');
    return typeof name === 'string' && repoPath.safeParse(name).success ? name : undefined;
  },
  classify: (headers) => {
    const event = eventKey(headers);
    if (event === undefined) return { kind: 'bad', message: 'missing x-event-key header' };
    if (event === 'repo:push') return { kind: 'push' };
    return { kind: 'ignored', reason: `event "${echo(event)}" is not handled; only repo:push is deployed` };
  },
  deliveryId: (headers, _payload, body) => deliveryIdFrom(headers['x-request-uuid']) ?? bodyDeliveryId(body),
  normalise: normaliseWith(bitbucketPushSchema, cloudUpdates),
};

const serverKey = z.string().regex(/^~?[\w.-]{1,128}$/, 'must be a project key or ~user');

export const bitbucketServerPushSchema = z.object({
  actor: z.object({ name: z.string().optional(), displayName: z.string().optional() }).optional(),
  repository: z.object({
    slug: z.string().regex(/^[\w.-]{1,128}$/, 'must be a repository slug'),
    project: z.object({ key: serverKey }),
    /**
     * Optional: Data Center's documented minimal `repo:refs_changed` payload has no links, and the
     * clone URL comes from the deployment config anyway (never from a payload, when configured).
     */
    links: z.object({ clone: z.array(z.object({ href: z.string(), name: z.string() })).max(10) }).optional(),
  }),
  changes: z
    .array(
      z.object({
        refId: z.string().regex(/^refs\/\S+$/, 'must be a full ref such as refs/heads/main'),
        fromHash: sha40,
        toHash: sha40,
        type: z.enum(['ADD', 'UPDATE', 'DELETE']),
      }),
    )
    .min(1)
    .max(100),
});
type BitbucketServerPush = z.infer<typeof bitbucketServerPushSchema>;

const serverRepo = (push: { repository: { slug: string; project: { key: string } } }) =>
  `${push.repository.project.key}/${push.repository.slug}`;

const serverSchemaWithUrl = bitbucketServerPushSchema.refine(
  (push) =>
    push.repository.links === undefined ||
    push.repository.links.clone.some((link) => link.name === 'http' && cloneUrl.safeParse(link.href).success),
  { path: ['repository', 'links', 'clone'], message: 'has no http clone link without credentials' },
);

const serverUpdates = (push: BitbucketServerPush): RefUpdate[] => {
  const repoUrl = push.repository.links?.clone.find((link) => link.name === 'http')?.href;
  return push.changes.map((change) => ({
    repo: serverRepo(push),
    repoUrl,
    ref: change.refId,
    before: change.type === 'ADD' ? ZERO_SHA : change.fromHash,
    after: change.type === 'DELETE' ? ZERO_SHA : change.toHash,
    forced: false,
    pusher: push.actor?.name ?? push.actor?.displayName,
  }));
};

export const bitbucketServer: WebhookProvider = {
  name: 'bitbucket-server',
  mediaTypes: ['application/json'],
  credential: SIGNATURE,
  deliveryHeader: 'x-request-id',
  hasCredential: (headers) => header(headers, SIGNATURE) !== undefined,
  verify: ({ secrets, headers, body }) => verifyPrefixedHmac(secrets, headers[SIGNATURE], body),
  repoHint: (payload) => {
    const key = pick(payload, 'repository', 'project', 'key');
    const slug = pick(payload, 'repository', 'slug');
    return typeof key === 'string' && typeof slug === 'string' && repoPath.safeParse(`${key}/${slug}`).success
      ? `${key}/${slug}`
      : undefined;
  },
  classify: (headers) => {
    const event = eventKey(headers);
    if (event === undefined) return { kind: 'bad', message: 'missing x-event-key header' };
    if (event === 'diagnostics:ping') return { kind: 'ping' };
    if (event === 'repo:refs_changed') return { kind: 'push' };
    return {
      kind: 'ignored',
      reason: `event "${echo(event)}" is not handled; only repo:refs_changed is deployed`,
    };
  },
  deliveryId: (headers, _payload, body) => deliveryIdFrom(headers['x-request-id']) ?? bodyDeliveryId(body),
  normalise: normaliseWith(serverSchemaWithUrl, serverUpdates),
};
