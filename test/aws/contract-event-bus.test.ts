import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { type Envelope, EVENT_SOURCE } from '../../shared/schemas/events.ts';
import { describeEventBusContract } from '../contract/event-bus.contract.ts';
import { aws, clients, receive, uniqueName } from './support.ts';

/** A new bus whose one rule sends every `sluice` event to a new standard queue, as the stacks do. */
describeEventBusContract('EventBridgeBus (LocalStack EventBridge → SQS)', async () => {
  const { events, sqs } = clients();
  const name = uniqueName('bus-contract');
  await events.send(new CreateEventBusCommand({ Name: name }));
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  await events.send(
    new PutRuleCommand({
      Name: `${name}-all`,
      EventBusName: name,
      EventPattern: JSON.stringify({ source: [EVENT_SOURCE] }),
    }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: `${name}-all`,
      EventBusName: name,
      Targets: [{ Id: 'queue', Arn: Attributes!.QueueArn! }],
    }),
  );
  return {
    bus: new EventBridgeBus({ busName: name, aws: aws() }),
    received: async (count) =>
      (await receive(sqs, queueUrl, { count, timeoutMs: 5_000 })).map(
        (message) => JSON.parse(message.Body ?? '{}') as Envelope,
      ),
  };
});
