import { z } from 'zod';
import { bundleVerified } from './events.ts';

/**
 * A chunk of a split Bundle Verified on the dispatch queue (shared/core/dispatch.ts): the event
 * with only this chunk's targets, and where the chunk stands in the bundle. Sent by dispatch
 * itself, so its body is `{ "kind": "Dispatch Chunk", "chunk": … }`, never an EventBridge envelope.
 */
export const DISPATCH_CHUNK_KIND = 'Dispatch Chunk';

export const dispatchChunk = z
  .object({
    verified: bundleVerified,
    index: z.number().int().nonnegative(),
    count: z.number().int().positive(),
    total: z.number().int().positive(),
  })
  .refine((c) => c.index < c.count, { message: 'index must be below count', path: ['index'] });

export type DispatchChunkMessage = z.infer<typeof dispatchChunk>;

/** The dispatch queue's body of a chunk. */
export const dispatchChunkBody = (chunk: unknown): string =>
  JSON.stringify({ kind: DISPATCH_CHUNK_KIND, chunk });
