import { BadInputError } from '../../shared/errors.ts';
import type { EventRecorder } from '../../shared/ports/index.ts';
import {
  type Envelope,
  EVENT_SOURCE,
  envelopeSchema,
  eventSchemas,
  isDetailType,
} from '../../shared/schemas/events.ts';
import { type HandlerExtras, parseDetail, sqsHandler } from '../commons/sqs.ts';

/**
 * Any `sluice` event, as the `source: sluice` rule delivers it. A known detail-type is checked
 * against its schema (what is kept is what the pipeline understood); a schedule's request carries
 * no trace and is ignored by the recorder.
 */
export const envelopeOf = (record: { messageId: string; body: string }, fix: string): Envelope => {
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    throw new BadInputError(`message ${record.messageId}`, 'body is not JSON', fix);
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success || envelope.data.source !== EVENT_SOURCE) {
    throw new BadInputError(
      `message ${record.messageId}`,
      `is not an EventBridge envelope from source "${EVENT_SOURCE}"`,
      fix,
    );
  }
  return envelope.data;
};

export const recordedEnvelope = (record: { messageId: string; body: string }): Envelope => {
  const envelope = envelopeOf(record, 'check the rule that feeds the record queue');
  const type = envelope['detail-type'];
  if (isDetailType(type)) parseDetail(eventSchemas[type], envelope.detail, record.messageId);
  return envelope;
};

/** Fed by the record queue (rule `source: sluice`): keeps every event (docs/operate.md). */
export const createRecordHandler = (deps: { readonly recorder: EventRecorder }, extras: HandlerExtras = {}) =>
  sqsHandler(
    {
      name: 'record',
      parse: recordedEnvelope,
      process: (envelope) => deps.recorder.record(envelope),
    },
    extras,
  );
