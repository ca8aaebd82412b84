/**
 * The rollout stage (docs/progressive-delivery.md): woken by the RolloutTimer (a wake message:
 * a report, a bake's end) or by `sluice approve` (a Rollout Approved event on the bus), it takes
 * every step the rollout's gates allow. Built by the composition root (pipeline.ts).
 */
import { z } from 'zod';
import { advanceRollout, approveRollout, dependencyFailed, type RolloutDeps } from '../core/rollout.ts';
import type { RolloutWake } from '../ports/index.ts';
import { ROLLOUT_EVENTS } from '../routing.ts';
import type { EventDetail, rolloutApproved } from '../schemas/events.ts';
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
  | { kind: 'approve'; approval: z.infer<typeof rolloutApproved> }
  | { kind: 'refused'; failure: Parameters<typeof dependencyFailed>[1] };

const rolloutEvent = busEvent(...ROLLOUT_EVENTS);

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
    const event = rolloutEvent(record);
    switch (event.detailType) {
      case 'Rollout Approved':
        return { kind: 'approve', approval: event.detail as z.infer<typeof rolloutApproved> };
      case 'Render Failed': {
        const d = event.detail as EventDetail<'Render Failed'>;
        return { kind: 'refused', failure: { ...d, reason: `render failed: ${d.error.message}` } };
      }
      case 'Policy Rejected': {
        const d = event.detail as EventDetail<'Policy Rejected'>;
        const first = d.violations[0]!;
        return {
          kind: 'refused',
          failure: { ...d, reason: `policy rejected: ${first.policy} ${first.object}: ${first.message}` },
        };
      }
      default: {
        const d = event.detail as EventDetail<'Release Rejected'>;
        return { kind: 'refused', failure: { ...d, reason: `release rejected (${d.reason}): ${d.message}` } };
      }
    }
  },
  process: async (message, _record, logger) => {
    if (message.kind === 'wake') {
      await advanceRollout(deps, message.wake);
      return;
    }
    if (message.kind === 'refused') {
      await dependencyFailed(deps, message.failure);
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
