import type { AgentDispatcher, AgentMessage } from '../../ports/index.ts';
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
    await this.sendMany([{ target, ...message }]);
  }

  /** One send per region's queue, as SendMessageBatch would (deduplicated alike). */
  async sendMany(messages: readonly AgentMessage[]): Promise<void> {
    const byQueue = new Map<LocalQueue, AgentMessage[]>();
    for (const m of messages) {
      const queue = this.#queueFor(m.target);
      byQueue.set(queue, [...(byQueue.get(queue) ?? []), m]);
    }
    for (const [queue, batch] of byQueue) {
      queue.send(
        batch.map((m) =>
          queue.fifo
            ? { body: m.body, groupId: groupIdFor(m.target, m.body), dedupId: m.dedupId }
            : { body: m.body },
        ),
      );
    }
  }
}
