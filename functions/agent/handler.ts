import { Logger } from '@aws-lambda-powertools/logger';
import { type AgentDeps, applyRequested } from '../../shared/core/agent.ts';
import { driftCheckRequested } from '../../shared/core/drift.ts';
import { isSluiceError } from '../../shared/errors.ts';
import {
  applyRequested as applyRequestedSchema,
  driftCheckRequested as driftCheckRequestedSchema,
} from '../../shared/schemas/events.ts';
import { type HandlerExtras, parseDetail, sqsHandler } from '../commons/sqs.ts';

/**
 * Fed by a region's agent queue: Apply Requested details from dispatch, and Drift Check Requested
 * from the region's schedule. A drift check reports each app it could not check and still
 * succeeds: the next scheduled check tries again, and a retry would re-report the others.
 */
export const createAgentHandler = (deps: AgentDeps, extras: HandlerExtras = {}) => {
  const logger = extras.logger ?? new Logger({ serviceName: 'sluice-agent' });
  return sqsHandler(
    {
      name: 'agent',
      parse: (record) => {
        const body = safeJson(record.body);
        const drift = driftCheckRequestedSchema.safeParse(body);
        return drift.success
          ? { kind: 'drift' as const, request: drift.data }
          : { kind: 'apply' as const, request: parseDetail(applyRequestedSchema, body, record.messageId) };
      },
      process: async (message) => {
        if (message.kind === 'apply') {
          await applyRequested(deps, message.request);
          return;
        }
        for (const failed of await driftCheckRequested(deps, message.request)) {
          if (!failed.error) continue;
          logger.warn('drift check failed', {
            app: failed.app,
            target: failed.target,
            code: isSluiceError(failed.error) ? failed.error.code : 'UNEXPECTED',
            error: failed.error.message,
          });
        }
      },
    },
    { ...extras, logger },
  );
};

const safeJson = (body: string): unknown => {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
};
