/**
 * The shape every webhook provider module fills in. Ingest runs the same steps for all of them
 * (shared/core/ingest.ts); a provider only says how its deliveries are authenticated, named and read.
 */
import type { z } from 'zod';
import {
  type DeliveryMeta,
  type Headers,
  normaliseRefUpdates,
  type PushNormalisation,
  REPO_PATH,
  type RefUpdate,
} from './common.ts';

export type Classification =
  | { readonly kind: 'push' }
  | { readonly kind: 'ping' }
  | { readonly kind: 'ignored'; readonly reason: string }
  /** Authenticated but unusable (a header the provider always sends is missing): 400. */
  | { readonly kind: 'bad'; readonly message: string };

export type Normalised =
  | PushNormalisation
  | {
      readonly kind: 'invalid';
      readonly issue: { readonly path: readonly PropertyKey[]; readonly message: string } | undefined;
    };

export interface VerifyInput {
  readonly secrets: readonly string[];
  readonly headers: Headers;
  /** The raw bytes as received. */
  readonly body: Uint8Array;
  readonly now: Date;
}

export interface WebhookProvider {
  /** The path segment: `/webhooks/<name>`. */
  readonly name: string;
  /** Media types the provider sends (lower case, no parameters). */
  readonly mediaTypes: readonly string[];
  /** The header(s) that carry the credential, named in 401 answers. */
  readonly credential: string;
  /** True when the request carries a credential at all (to tell "missing" from "wrong"). */
  hasCredential(headers: Headers): boolean;
  /** True when the credential matches the body under one of the secrets. Constant time. */
  verify(input: VerifyInput): boolean;
  /** The JSON text inside the body; GitHub's form-encoded deliveries carry it in `payload=`. */
  payloadText?(mediaType: string, text: string): string | undefined;
  /**
   * The repository the (not yet authenticated) payload names, used only to pick that repo's
   * secret. Ingest checks that the authenticated event names the same repo.
   */
  repoHint(payload: unknown): string | undefined;
  /** What kind of delivery this is, from its headers and the authenticated payload. */
  classify(headers: Headers, payload: unknown): Classification;
  /** The delivery id; a provider without one derives a stable id from the body. */
  deliveryId(headers: Headers, payload: unknown, body: Uint8Array): string | undefined;
  /** The name of the delivery-id header, for the 400 answer when it is missing or malformed. */
  readonly deliveryHeader: string;
  normalise(payload: unknown, meta: DeliveryMeta): Normalised;
}

/** Reads a string at `path` from an untrusted value without throwing. */
export const pick = (value: unknown, ...path: (string | number)[]): unknown => {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
};

/** A repo path at `path`, when it looks like one. */
export const repoAt = (value: unknown, ...path: (string | number)[]): string | undefined => {
  const found = pick(value, ...path);
  return typeof found === 'string' && found.length <= 256 && REPO_PATH.test(found) ? found : undefined;
};

/** Runs a zod schema over the payload and maps the result to ref updates, or reports the first issue. */
export const normaliseWith =
  <S extends z.ZodType>(schema: S, toUpdates: (push: z.infer<S>) => readonly RefUpdate[]) =>
  (payload: unknown, meta: DeliveryMeta): Normalised => {
    const parsed = schema.safeParse(payload);
    if (!parsed.success) return { kind: 'invalid', issue: parsed.error.issues[0] };
    return normaliseRefUpdates(toUpdates(parsed.data), meta);
  };

export const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name];
  return value === undefined || value === '' ? undefined : value;
};
