/**
 * The rollout stage (docs/progressive-delivery.md): woken by the RolloutTimer (a wake message:
 * a report, a bake's end) or by `sluice approve` (a Rollout Approved event on the bus), it takes
 * every step the rollout's gates allow. Built by the composition root (pipeline.ts).
 */
import { z } from 'zod';
import { advanceRollout, approveRollout, type RolloutDeps } from '../core/rollout.ts';
import type { RolloutWake } from '../ports/index.ts';
import type { rolloutApproved } from '../schemas/events.ts';
import { busEvent, parseDetail, type SqsRuntime, type SqsStage } from './sqs-handler.ts';

/** The body of a wake message, as the RolloutTimer adapters send it. */
export const rolloutWake = z
  .object({
    kind: z.literal('rollout-wake'),
    repo: z.string().min(1),
    branch: z.string().min(1),
    app: z.string().min(1),
    generation: z.number().int().positive(),
  })
  .strict();

/** The wake message body of a rollout. */
export const wakeBody = (wake: RolloutWake): string => JSON.stringify({ kind: 'rollout-wake', ...wake });

type RolloutMessage =
  | { kind: 'wake'; wake: RolloutWake }
  | { kind: 'approve'; approval: z.infer<typeof rolloutApproved> };

const approvedEvent = busEvent('Rollout Approved');

export const rolloutStage = (deps: RolloutDeps, _runtime: SqsRuntime): SqsStage<RolloutMessage> => ({
  name: 'rollout',
  parse: (record) => {
    let json: unknown;
    try {
      json = JSON.parse(record.body);
    } catch {
      json = undefined;
    }
    if (json && typeof json === 'object' && (json as { kind?: unknown }).kind === 'rollout-wake') {
      const { kind: _kind, ...wake } = parseDetail(rolloutWake, json, record.messageId);
      return { kind: 'wake', wake };
    }
    return { kind: 'approve', approval: approvedEvent(record).detail };
  },
  process: async (message, _record, logger) => {
    if (message.kind === 'wake') {
      await advanceRollout(deps, message.wake);
      return;
    }
    const approved = await approveRollout(deps, message.approval);
    if (approved.length === 0) {
      logger.warn('approval matched no rollout in progress', {
        app: message.approval.app,
        wave: message.approval.wave,
      });
    }
  },
});
