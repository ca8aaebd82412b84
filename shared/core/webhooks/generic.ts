/**
 * The generic receiver, for any Git server or CI job that can send an HTTP POST:
 * `X-Sluice-Signature: sha256=<hex HMAC-SHA256 of the body>`, `X-Sluice-Event: push | ping`,
 * optional `X-Sluice-Delivery` (without one the id is derived from the body, so an identical
 * redelivery is absorbed). The body is the small JSON document `genericPushSchema` describes.
 */
import { z } from 'zod';
import {
  bodyDeliveryId,
  cloneUrl,
  deliveryIdFrom,
  echo,
  fullRef,
  type RefUpdate,
  repoPath,
  sha40,
  verifyPrefixedHmac,
} from './common.ts';
import { header, normaliseWith, repoAt, type WebhookProvider } from './provider.ts';

export const GENERIC_SIGNATURE_HEADER = 'x-sluice-signature';

export const genericPushSchema = z.object({
  repo: repoPath,
  /** Optional: the configured clone URL is used whenever the repo is configured. */
  repoUrl: cloneUrl.optional(),
  ref: fullRef,
  /** All zeros for a new ref. */
  before: sha40,
  /** All zeros for a deleted ref. */
  after: sha40,
  forced: z.boolean().optional(),
  pusher: z.string().max(256).optional(),
  message: z.string().optional(),
});
export type GenericPush = z.infer<typeof genericPushSchema>;

const toUpdates = (push: GenericPush): RefUpdate[] => [{ ...push, forced: push.forced ?? false }];

export const generic: WebhookProvider = {
  name: 'generic',
  mediaTypes: ['application/json'],
  credential: GENERIC_SIGNATURE_HEADER,
  deliveryHeader: 'x-sluice-delivery',
  hasCredential: (headers) => header(headers, GENERIC_SIGNATURE_HEADER) !== undefined,
  verify: ({ secrets, headers, body }) =>
    verifyPrefixedHmac(secrets, headers[GENERIC_SIGNATURE_HEADER], body),
  repoHint: (payload) => repoAt(payload, 'repo'),
  classify: (headers) => {
    const event = header(headers, 'x-sluice-event') ?? 'push';
    if (event === 'ping') return { kind: 'ping' };
    if (event === 'push') return { kind: 'push' };
    return { kind: 'ignored', reason: `event "${echo(event)}" is not handled; send push or ping` };
  },
  deliveryId: (headers, _payload, body) =>
    deliveryIdFrom(headers['x-sluice-delivery']) ?? bodyDeliveryId(body),
  normalise: normaliseWith(genericPushSchema, toUpdates),
};
