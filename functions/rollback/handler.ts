import type { SQSRecord } from 'aws-lambda';
import { ALARM_SOURCE, type AlarmStateChange, parseAlarmEvent } from '../../shared/core/alarms.ts';
import {
  executeRollback,
  type RollbackDeps,
  rollbackForFailure,
  rollbacksForAlarm,
} from '../../shared/core/rollback.ts';
import { BadInputError } from '../../shared/errors.ts';
import {
  type DeploymentFailed,
  envelopeSchema,
  type RollbackRequested,
} from '../../shared/schemas/events.ts';
import { busEvent, type HandlerExtras, sqsHandler } from '../commons/sqs.ts';

type Trigger =
  | { kind: 'alarm'; alarm: AlarmStateChange }
  | ReturnType<ReturnType<typeof busEvent<'Rollback Requested' | 'Deployment Failed'>>>;

const sluiceEvent = busEvent('Rollback Requested', 'Deployment Failed');

/** CloudWatch alarm state changes (default bus) or Sluice's own events, told apart by source. */
const parse = (record: SQSRecord): Trigger => {
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    json = undefined;
  }
  const envelope = envelopeSchema.safeParse(json);
  if (envelope.success && envelope.data.source === ALARM_SOURCE) {
    return { kind: 'alarm', alarm: parseAlarmEvent(envelope.data) };
  }
  if (!envelope.success) {
    throw new BadInputError(
      `message ${record.messageId}`,
      'body is not an EventBridge envelope',
      'check the rule target input',
    );
  }
  return sluiceEvent(record);
};

/** Fed by the rollback queue: every trigger becomes one Rollback Requested, carried out once. */
export const createRollbackHandler = (deps: RollbackDeps, extras: HandlerExtras = {}) =>
  sqsHandler<Trigger>(
    {
      name: 'rollback',
      parse,
      process: async (trigger) => {
        if ('kind' in trigger) await rollbacksForAlarm(deps, trigger.alarm);
        else if (trigger.detailType === 'Deployment Failed') {
          await rollbackForFailure(deps, trigger.detail as DeploymentFailed);
        } else {
          await executeRollback(deps, trigger.detail as RollbackRequested);
        }
      },
    },
    extras,
  );
