/**
 * The agent handler for tests that run the agent alone (a real kube-apiserver, the deployed
 * queues): built by the one composition root from the test's ports. A poison message is left to
 * the queue (reported as a batch item failure), as the tests' queues have no dead-letter queue.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { AgentDeps } from '../../shared/core/agent.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';

export const createAgentHandler = (deps: AgentDeps, extras: { logger?: Logger } = {}) =>
  createPipeline(
    {
      clock: deps.clock,
      bus: deps.bus,
      bundles: deps.bundles,
      cluster: deps.cluster,
      secrets: deps.secrets,
      ...(deps.verifier ? { verifier: deps.verifier } : {}),
      ...(deps.rechecks ? { healthRechecks: deps.rechecks } : {}),
      deadLetters: {
        park: async (_message, reason) => {
          throw new Error(reason);
        },
      },
    },
    {
      signing: deps.verifier ? 'required' : 'off',
      metricsSink: () => undefined,
      ...(extras.logger ? { logger: extras.logger } : {}),
      ...(deps.healthDeadlineMs === undefined ? {} : { healthDeadlineMs: deps.healthDeadlineMs }),
      ...(deps.healthPollMs === undefined ? {} : { healthPollMs: deps.healthPollMs }),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      ...(deps.exclusive ? { exclusive: deps.exclusive } : {}),
    },
  ).handler('agent');
