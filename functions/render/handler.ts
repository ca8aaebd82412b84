import { type RenderDeps, renderRelease } from '../../shared/core/release.ts';
import { busEvent, type HandlerExtras, sqsHandler } from '../commons/sqs.ts';

/** Fed by the render queue: Release Planned → Bundle Verified | Policy Rejected | Render Failed. */
const parse = busEvent('Release Planned');

export const createRenderHandler = (deps: RenderDeps, extras: HandlerExtras = {}) =>
  sqsHandler(
    {
      name: 'render',
      parse,
      process: async ({ detail }) => {
        await renderRelease(deps, detail);
      },
    },
    extras,
  );
