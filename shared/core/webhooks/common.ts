/**
 * What every provider module shares: constant-time credential checks, the zod pieces that guard
 * what reaches an event (commit ids, clone URLs, repo names), and the one builder of a
 * `Commit Pushed` detail. Pure: no I/O, no clock, no environment.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { type CommitPushed, SCHEMA_VERSION } from '../../schemas/events.ts';
import { isCleanHttpUrl } from '../../schemas/repos.ts';

/** The all-zero id a provider sends as `before` for a new ref and as `after` for a deleted one. */
export const ZERO_SHA = '0'.repeat(40);
/** `Commit Pushed` caps the head commit message; longer ones are cut, not rejected. */
export const MAX_MESSAGE_LENGTH = 2000;

export const BRANCH_PREFIX = 'refs/heads/';
export const TAG_PREFIX = 'refs/tags/';

export type Headers = Readonly<Record<string, string | undefined>>;

export const sha40 = z.string().regex(/^[0-9a-f]{40}$/, 'must be a 40-character lower-case hex commit id');

export { isCleanHttpUrl };
export const cloneUrl = z
  .string()
  .refine(isCleanHttpUrl, { message: 'must be an http(s) clone URL without credentials' });

/** A repository path such as `owner/name` or `group/sub/name`: no spaces, no empty segments. */
export const REPO_PATH = /^[^/\s]+(\/[^/\s]+)+$/;
export const repoPath = z.string().max(256).regex(REPO_PATH, 'must be a path such as "owner/name"');

export const fullRef = z
  .string()
  .max(1024)
  .regex(/^refs\/\S+$/, 'must be a full ref such as refs/heads/main')
  .refine((ref) => ref !== BRANCH_PREFIX && ref !== TAG_PREFIX, { message: 'names no branch or tag' });

// ---------------------------------------------------------------------------------------------
// Credentials. Every comparison hashes or HMACs both sides to equal-length buffers and uses
// timingSafeEqual, and every secret is tried, so timing reveals neither which secret matched nor
// how much of a value was right. Empty secrets are skipped: a key of "" proves nothing.

const hmac = (algorithm: 'sha256', secret: string, body: Uint8Array | string): Buffer =>
  createHmac(algorithm, secret).update(body).digest();

const equalBytes = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

/** True when `hex` (any case, no prefix) is the HMAC-SHA256 of `body` under one of `secrets`. */
export const verifyHmacHex = (
  secrets: readonly string[],
  hex: string | undefined,
  body: Uint8Array,
): boolean => {
  const trimmed = hex?.trim();
  if (trimmed === undefined || !/^[0-9a-fA-F]{64}$/.test(trimmed)) return false;
  const given = Buffer.from(trimmed, 'hex');
  let valid = false;
  for (const secret of secrets) {
    if (secret.length > 0 && equalBytes(hmac('sha256', secret, body), given)) valid = true;
  }
  return valid;
};

/** `sha256=<hex>` headers (GitHub, Bitbucket Cloud and Data Center, the generic receiver). */
export const verifyPrefixedHmac = (
  secrets: readonly string[],
  header: string | undefined,
  body: Uint8Array,
): boolean => {
  const match = header === undefined ? undefined : /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  return verifyHmacHex(secrets, match?.[1], body);
};

export const signHmacHex = (secret: string, body: Uint8Array | string): string =>
  hmac('sha256', secret, body).toString('hex');

/** A token sent as is (GitLab's X-Gitlab-Token, a basic-auth password), compared via SHA-256 digests. */
export const verifyToken = (secrets: readonly string[], token: string | undefined): boolean => {
  if (token === undefined || token.length === 0 || token.length > 1024) return false;
  const given = createHash('sha256').update(token).digest();
  let valid = false;
  for (const secret of secrets) {
    if (secret.length > 0 && equalBytes(createHash('sha256').update(secret).digest(), given)) valid = true;
  }
  return valid;
};

/** A stable id for a provider that sends none: the same body redelivered gets the same id. */
export const bodyDeliveryId = (body: Uint8Array): string =>
  `body-sha256:${createHash('sha256').update(body).digest('hex').slice(0, 40)}`;

const DELIVERY_ID = /^[\x21-\x7e]{1,128}$/;
/** A header value usable as a delivery id (1-128 printable ASCII characters), else undefined. */
export const deliveryIdFrom = (value: string | undefined): string | undefined =>
  value !== undefined && DELIVERY_ID.test(value) ? value : undefined;

// ---------------------------------------------------------------------------------------------
// Normalisation.

/** A `Commit Pushed` detail before ingest sets its clone URL from the configuration. */
export type NormalisedPush = Omit<CommitPushed, 'repoUrl'> & { repoUrl?: string };

export type PushNormalisation =
  | { readonly kind: 'commits'; readonly details: readonly NormalisedPush[] }
  | { readonly kind: 'ignored'; readonly reason: string };

/** What the normaliser needs from the delivery around the payload. */
export interface DeliveryMeta {
  readonly provider: string;
  readonly deliveryId: string;
  readonly traceId: string;
  readonly receivedAt: Date;
}

/** One ref update as every provider can describe it. */
export interface RefUpdate {
  readonly repo: string;
  /**
   * The clone URL the payload carries, if any. Only a hint: ingest uses the deployment config's
   * URL for a configured repo and refuses an unconfigured one, so a payload never picks a clone URL.
   */
  readonly repoUrl?: string | undefined;
  readonly ref: string;
  /** Old head; all zeros for a new ref. */
  readonly before: string;
  /** New head; all zeros for a deleted ref. */
  readonly after: string;
  readonly forced: boolean;
  readonly pusher?: string | undefined;
  readonly message?: string | undefined;
}

export const TAG_IGNORED =
  'tag pushes are not deployed: Sluice deploys branches (refs/heads/*); a tag that should deploy belongs on a branch';

/** The branch a ref names, or a reason the ref is not deployed. */
export const branchOfRef = (ref: string): { branch: string } | { ignored: string } => {
  if (ref.startsWith(BRANCH_PREFIX) && ref.length > BRANCH_PREFIX.length) {
    return { branch: ref.slice(BRANCH_PREFIX.length) };
  }
  if (ref.startsWith(TAG_PREFIX)) return { ignored: TAG_IGNORED };
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
 * Ref updates → `Commit Pushed` details, one per branch. A branch deletion is still published
 * (`deleted: true`, `commit` = the old head): deciding what a deletion means is the planner's job.
 * Tags and other refs are dropped; when nothing is left the reason of the first is returned.
 * With several branches in one delivery each detail's delivery id gets a `#<n>` suffix.
 */
export const normaliseRefUpdates = (updates: readonly RefUpdate[], meta: DeliveryMeta): PushNormalisation => {
  const at = meta.receivedAt.toISOString();
  const details: NormalisedPush[] = [];
  let reason: string | undefined;
  for (const update of updates) {
    const target = branchOfRef(update.ref);
    if ('ignored' in target) {
      reason ??= target.ignored;
      continue;
    }
    const deleted = update.after === ZERO_SHA;
    if (deleted && update.before === ZERO_SHA) {
      reason ??= 'both the old and the new commit are all zeros';
      continue;
    }
    details.push({
      schemaVersion: SCHEMA_VERSION,
      traceId: meta.traceId,
      repo: update.repo,
      branch: target.branch,
      commit: deleted ? update.before : update.after,
      before: update.before,
      ref: update.ref,
      forced: update.forced,
      deleted,
      deliveryId: meta.deliveryId,
      provider: meta.provider,
      ...(update.repoUrl === undefined ? {} : { repoUrl: update.repoUrl }),
      ...(update.pusher ? { pusher: update.pusher.slice(0, 256) } : {}),
      ...(update.message === undefined ? {} : { message: truncateMessage(update.message) }),
      occurredAt: at,
      receivedAt: at,
    });
  }
  if (details.length === 0) return { kind: 'ignored', reason: reason ?? 'the push names no ref' };
  if (details.length > 1) {
    details.forEach((detail, i) => {
      detail.deliveryId = `${meta.deliveryId.slice(0, 120)}#${i + 1}`;
    });
  }
  return { kind: 'commits', details };
};

/** Only short, plain tokens from a request are ever repeated back to the sender. */
export const echo = (value: string | undefined): string =>
  value !== undefined && /^[\w.:-]{1,64}$/.test(value) ? value : '?';
