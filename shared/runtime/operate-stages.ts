/**
 * The operating stages (docs/operate.md): record keeps every `sluice` event, reconcile plans what no
 * webhook brought. Built by the composition root (pipeline.ts) like every other stage.
 */
import { type ReconcileRequestDeps, reconcileOnRequest } from '../core/reconcile.ts';
import { BadInputError } from '../errors.ts';
import type { EventRecorder } from '../ports/index.ts';
import {
  type Envelope,
  EVENT_SOURCE,
  envelopeSchema,
  eventSchemas,
  isDetailType,
  type ReconcileRequested,
  reconcileRequested,
} from '../schemas/events.ts';
import { parseDetail, type SqsRuntime, type SqsStage } from './sqs-handler.ts';

type Received = { messageId: string; body: string };

/** A `sluice` EventBridge envelope, as a bus rule (or ingest's reconcile trigger) delivers it. */
const envelopeOf = (record: Received, fix: string): Envelope => {
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

/**
 * Any `sluice` event. A known detail-type is checked against its schema (what is kept is what the
 * pipeline understood); a schedule's request carries no trace and the recorder ignores it.
 */
export const recordedEnvelope = (record: Received): Envelope => {
  const envelope = envelopeOf(record, 'check the rule that feeds the record queue');
  const type = envelope['detail-type'];
  if (isDetailType(type)) parseDetail(eventSchemas[type], envelope.detail, record.messageId);
  return envelope;
};

/** Reconcile Requested, from the schedule (through the bus) or from ingest (straight to the queue). */
export const reconcileRequest = (record: Received): ReconcileRequested => {
  const fix = 'check the rule and the ingest trigger that feed the reconcile queue';
  const envelope = envelopeOf(record, fix);
  if (envelope['detail-type'] !== 'Reconcile Requested') {
    throw new BadInputError(
      `message ${record.messageId}`,
      `detail-type "${envelope['detail-type']}" is not "Reconcile Requested"`,
      fix,
    );
  }
  return parseDetail(reconcileRequested, envelope.detail, record.messageId);
};

/** Record, from the record queue (rule `source: sluice`): one object per event (docs/operate.md). */
export const recordStage = (deps: { recorder: EventRecorder }, _runtime: SqsRuntime): SqsStage<Envelope> => ({
  name: 'record',
  parse: recordedEnvelope,
  process: (envelope) => deps.recorder.record(envelope),
});

/**
 * Reconcile, from the reconcile queue: each tracked branch's head (ls-remote) against the last
 * planned commit; Commit Pushed for what was missed (a lost webhook, a parked plan).
 */
export const reconcileStage = (
  deps: ReconcileRequestDeps,
  _runtime: SqsRuntime,
): SqsStage<ReconcileRequested> => ({
  name: 'reconcile',
  parse: reconcileRequest,
  process: async (request, _record, logger) => {
    const result = await reconcileOnRequest(deps, request);
    for (const failure of result.failed) logger.warn('branch not reconciled', { ...failure });
    if (result.published.length > 0) {
      logger.info('missed pushes published', {
        commits: result.published.map((p) => `${p.repo}#${p.branch}@${p.commit.slice(0, 7)}`),
      });
    }
  },
});
