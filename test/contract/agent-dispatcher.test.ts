import { LocalAgentDispatcher } from '../../shared/adapters/local/agent-dispatcher.ts';
import { LocalQueue } from '../../shared/adapters/local/queue.ts';
import { agentQueueName } from '../../shared/routing.ts';
import { describeAgentDispatcherContract } from './agent-dispatcher.contract.ts';

/** The in-process agent queues of `sluice dev`: one FIFO queue per region, as on SQS. */
describeAgentDispatcherContract('LocalAgentDispatcher (in-process FIFO queues)', async () => {
  const east = { name: 'prod-east', cloud: 'aws', region: 'us-east-1', agent: 'lambda' } as const;
  const west = { name: 'prod-west', cloud: 'aws', region: 'eu-west-1', agent: 'lambda' } as const;
  const queues = new Map<string, LocalQueue>();
  const queueOf = (region: string) => {
    const name = agentQueueName(region);
    let queue = queues.get(name);
    if (queue === undefined) {
      queue = new LocalQueue({ name, fifo: true, contentBasedDeduplication: true });
      queues.set(name, queue);
    }
    return queue;
  };
  return {
    dispatcher: new LocalAgentDispatcher((target) => queueOf(target.region)),
    targets: [east, west],
    // As an agent would: receive, and delete what it received, so the group's next message shows.
    received: async (target, count) => {
      const queue = queueOf(target.region);
      const bodies: string[] = [];
      for (let round = 0; round < 2 * count + 2 && bodies.length < count; round++) {
        for (const message of queue.receive(10)) {
          bodies.push(message.body);
          if (message.receiptHandle) queue.delete(message.receiptHandle);
        }
      }
      return bodies;
    },
  };
});
