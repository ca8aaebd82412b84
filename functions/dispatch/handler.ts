import { type DispatchDeps, dispatchBundle } from '../../shared/core/dispatch.ts';
import { busEvent, type HandlerExtras, sqsHandler } from '../commons/sqs.ts';

/** Fed by the dispatch queue: Bundle Verified → ledger Pending + Apply Requested per target. */
const parse = busEvent('Bundle Verified');

export const createDispatchHandler = (deps: DispatchDeps, extras: HandlerExtras = {}) =>
  sqsHandler(
    {
      name: 'dispatch',
      parse,
      process: async ({ detail }) => {
        await dispatchBundle(deps, detail);
      },
    },
    extras,
  );
