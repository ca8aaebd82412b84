import { type PlanDeps, planCommit } from '../../shared/core/plan.ts';
import { busEvent, type HandlerExtras, sqsHandler } from '../commons/sqs.ts';

/** Fed by the FIFO plan queue (group = repo+branch): Commit Pushed → Release Planned | Skipped. */
const parse = busEvent('Commit Pushed');

export const createPlanHandler = (deps: PlanDeps, extras: HandlerExtras = {}) =>
  sqsHandler(
    {
      name: 'plan',
      fifo: true,
      parse,
      process: async ({ detail }) => {
        await planCommit(deps, detail);
      },
    },
    extras,
  );
