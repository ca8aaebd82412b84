import { type AgentDeps, applyRequested } from '../../shared/core/agent.ts';
import { applyRequested as applyRequestedSchema } from '../../shared/schemas/events.ts';
import { type HandlerExtras, parseDetail, sqsHandler } from '../commons/sqs.ts';

/** Fed by a region's agent queue, whose messages are Apply Requested details. */
export const createAgentHandler = (deps: AgentDeps, extras: HandlerExtras = {}) =>
  sqsHandler(
    {
      name: 'agent',
      parse: (record) => parseDetail(applyRequestedSchema, safeJson(record.body), record.messageId),
      process: async (request) => {
        await applyRequested(deps, request);
      },
    },
    extras,
  );

const safeJson = (body: string): unknown => {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
};
