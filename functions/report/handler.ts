import { type ReportDeps, recordOutcome } from '../../shared/core/report.ts';
import type { DeploymentFailed, DeploymentSucceeded } from '../../shared/schemas/events.ts';
import { busEvent, type HandlerExtras, sqsHandler } from '../commons/sqs.ts';

/** Fed by the report queue: agent outcomes → ledger (last known good) and commit status. */
const parse = busEvent('Deployment Succeeded', 'Deployment Failed');

export const createReportHandler = (deps: ReportDeps, extras: HandlerExtras = {}) =>
  sqsHandler(
    {
      name: 'report',
      parse,
      process: async (event) => {
        await recordOutcome(
          deps,
          event.detailType === 'Deployment Succeeded'
            ? { kind: 'succeeded', detail: event.detail as DeploymentSucceeded }
            : { kind: 'failed', detail: event.detail as DeploymentFailed },
          event.origin,
        );
      },
    },
    extras,
  );
