import { z } from 'zod';
import type { HealthRecheck } from '../ports/index.ts';
import { applyRequested } from './events.ts';

/**
 * A health re-check on a region's health queue (shared/core/agent.ts recheckHealth): sent by the
 * agent itself as a delayed message, so its body is `{ "kind": "Health Recheck", … }`, never an
 * EventBridge envelope, and the agent stage tells it from an Apply Requested by `kind`.
 */
export const HEALTH_RECHECK_KIND = 'Health Recheck';

const count = z.number().int().nonnegative();

export const healthRecheck = z
  .object({
    kind: z.literal(HEALTH_RECHECK_KIND),
    request: applyRequested,
    since: z.number().int().nonnegative(),
    deadlineMs: z.number().int().positive(),
    attempt: z.number().int().positive(),
    result: z.object({ applied: count, unchanged: count, pruned: count }),
    bundleKey: z.string().min(1).optional(),
  })
  .strict();

/** The health queue's body of a re-check. */
export const healthRecheckBody = (check: HealthRecheck): string =>
  JSON.stringify({ kind: HEALTH_RECHECK_KIND, ...check });

/** The re-check a body carries, or undefined when the body is not one (another kind of message). */
export const isHealthRecheckBody = (body: unknown): boolean =>
  typeof body === 'object' && body !== null && (body as { kind?: unknown }).kind === HEALTH_RECHECK_KIND;
