import { type ReconcileRequestDeps, reconcileOnRequest } from '../../shared/core/reconcile.ts';
import { BadInputError } from '../../shared/errors.ts';
import { reconcileRequested } from '../../shared/schemas/events.ts';
import { type HandlerExtras, parseDetail, sqsHandler } from '../commons/sqs.ts';
import { envelopeOf } from '../record/handler.ts';

/** Reconcile Requested, from the schedule (through the bus) or from ingest (straight to the queue). */
export const reconcileRequest = (record: { messageId: string; body: string }) => {
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

/**
 * Fed by the reconcile queue: compares each tracked branch's head (ls-remote) with the last planned
 * commit and publishes Commit Pushed for what was missed (a lost webhook, a parked plan).
 */
export const createReconcileHandler = (deps: ReconcileRequestDeps, extras: HandlerExtras = {}) =>
  sqsHandler(
    {
      name: 'reconcile',
      parse: reconcileRequest,
      process: async (request) => {
        await reconcileOnRequest(deps, request);
      },
    },
    extras,
  );
