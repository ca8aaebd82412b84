import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { agentQueueUrlFor, SqsAgentDispatcher } from '../../shared/adapters/aws/sqs-agent-dispatcher.ts';
import { describeAgentDispatcherContract } from '../contract/agent-dispatcher.contract.ts';
import { aws, clients, receive, uniqueName } from './support.ts';

/**
 * One FIFO agent queue per region, as the regional stacks make them. LocalStack serves every
 * region from one endpoint, so both queues are created with the suite's client.
 */
describeAgentDispatcherContract('SqsAgentDispatcher (LocalStack SQS FIFO)', async () => {
  const { sqs } = clients();
  const queue = async (region: string) =>
    (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `${uniqueName(`agent-${region}`)}.fifo`,
          Attributes: { FifoQueue: 'true' },
        }),
      )
    ).QueueUrl!;
  const region = aws().region;
  const east = { name: 'prod-east', cloud: 'aws', region, agent: 'lambda' } as const;
  const west = { name: 'prod-west', cloud: 'aws', region, agent: 'lambda' } as const;
  const urls: Record<string, string> = { [east.name]: await queue('east'), [west.name]: await queue('west') };
  return {
    dispatcher: new SqsAgentDispatcher({
      queueUrlFor: agentQueueUrlFor({ targets: urls, regions: {} }),
      clientFor: () => sqs,
    }),
    targets: [east, west],
    received: async (target, count) =>
      (await receive(sqs, urls[target.name]!, { count, timeoutMs: 5_000 })).map((m) => m.Body ?? ''),
  };
});
