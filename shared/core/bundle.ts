/**
 * Bundles: the rendered objects of one app in one environment, as canonical bytes. The bytes are
 * content-addressed (sha256), so identical manifests always produce the identical digest — also
 * across commits: the commit is deliberately left out, which is what makes a revert a no-op.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BadInputError, SluiceError } from '../errors.ts';
import type { KubeObject } from '../ports/index.ts';
import { digest as digestSchema } from '../schemas/events.ts';
import { type RenderedObject, sortRendered } from './render.ts';

export const BUNDLE_API_VERSION = 'sluice.dev/v1';

const kubeObjectSchema = z
  .object({
    apiVersion: z.string().min(1),
    kind: z.string().min(1),
    metadata: z
      .object({
        name: z.string().min(1),
        namespace: z.string().min(1).optional(),
        labels: z.record(z.string(), z.string()).optional(),
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .loose(),
  })
  .loose();

export const bundleSchema = z
  .object({
    apiVersion: z.literal(BUNDLE_API_VERSION),
    kind: z.literal('Bundle'),
    app: z.string().min(1),
    environment: z.string().min(1).optional(),
    objects: z.array(z.object({ file: z.string().min(1), object: kubeObjectSchema }).strict()),
  })
  .strict();

export interface Bundle {
  apiVersion: typeof BUNDLE_API_VERSION;
  kind: 'Bundle';
  app: string;
  environment?: string;
  objects: { file: string; object: KubeObject }[];
}

const canonicalise = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonicalise);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonicalise(v);
    }
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new SluiceError('RENDER_FAILED', `a manifest holds the number ${value}, which JSON cannot carry`, {
      data: { value: String(value) },
    });
  }
  return value;
};

/** JSON with keys sorted at every level and no whitespace: one value, one byte sequence. */
export const canonicalJson = (value: unknown): string => JSON.stringify(canonicalise(value));

/**
 * Canonical bytes of a bundle. Objects are sorted (input order does not matter) and `meta.commit`
 * is not written: the same manifests at two commits are the same bundle.
 */
export const encodeBundle = (
  objects: readonly RenderedObject[],
  meta: { app: string; commit: string; environment?: string },
): Uint8Array => {
  const bundle: Bundle = {
    apiVersion: BUNDLE_API_VERSION,
    kind: 'Bundle',
    app: meta.app,
    ...(meta.environment === undefined ? {} : { environment: meta.environment }),
    objects: sortRendered(objects).map(({ file, object }) => ({ file, object })),
  };
  return new TextEncoder().encode(canonicalJson(bundle));
};

/** Parses and validates bundle bytes; throws BUNDLE_INVALID (not retryable) for anything else. */
export const decodeBundle = (bytes: Uint8Array): Bundle => {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new SluiceError('BUNDLE_INVALID', 'bundle is not UTF-8 JSON; re-render it from its commit', {
      cause,
    });
  }
  const parsed = bundleSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.map(String).join('.') || '(root)';
    throw new SluiceError(
      'BUNDLE_INVALID',
      `bundle is malformed at ${at}: ${issue.message}; re-render it from its commit`,
      { data: { path: at, problem: issue.message } },
    );
  }
  return parsed.data as Bundle;
};

/** `sha256:<64 hex>` of the bytes. */
export const sha256Digest = (bytes: Uint8Array): string =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The content-addressed store key of a bundle: `bundles/<hex>.json`. */
export const bundleKey = (digest: string): string => {
  if (!digestSchema.safeParse(digest).success) {
    throw new BadInputError(
      `digest "${digest}"`,
      'is not sha256:<64 hex>',
      'pass a digest from sha256Digest()',
    );
  }
  return `bundles/${digest.slice('sha256:'.length)}.json`;
};
