import type { AgentDispatcher } from '../../ports/index.ts';
import type { TargetRef } from '../../schemas/events.ts';
import { groupIdFor } from '../agent-message.ts';
import type { LocalQueue } from './queue.ts';

/**
 * Hands Apply Requested to the in-process agent queue of the target's region with the SQS
 * dispatcher's grouping and deduplication: one group per (target, app), the dispatch's dedup id,
 * so a redelivered Bundle Verified reaches the agent once, as it does on SQS.
 */
export class LocalAgentDispatcher implements AgentDispatcher {
  readonly #queueFor: (target: TargetRef) => LocalQueue;

  /** `queueFor` returns (creating and draining it the first time, if the host wants) a region's queue. */
  constructor(queueFor: (target: TargetRef) => LocalQueue) {
    this.#queueFor = queueFor;
  }

  async send(target: TargetRef, message: { body: string; dedupId: string }): Promise<void> {
    const queue = this.#queueFor(target);
    queue.send([
      queue.fifo
        ? { body: message.body, groupId: groupIdFor(target, message.body), dedupId: message.dedupId }
        : { body: message.body },
    ]);
  }
}
