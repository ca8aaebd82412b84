import {
  CreateEventBusCommand,
  PutRuleCommand,
  PutTargetsCommand,
  type Target,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { SqsAgentDispatcher } from '../../shared/adapters/aws/sqs-agent-dispatcher.ts';
import { isSluiceError } from '../../shared/errors.ts';
import { type CommitPushed, EVENT_SOURCE, envelopeSchema } from '../../shared/schemas/events.ts';
import { aws, clients, receive, sha, uniqueName } from './support.ts';

const commitPushed = (n: number, overrides: Partial<CommitPushed> = {}): CommitPushed => ({
  schemaVersion: 1,
  traceId: `trace-${n.toString().padStart(4, '0')}`,
  repo: 'acme/fleet',
  branch: 'main',
  commit: sha(n + 1),
  occurredAt: '2026-01-01T00:00:00.000Z',
  deliveryId: `delivery-${n}`,
  provider: 'github',
  repoUrl: 'https://git.example.com/acme/fleet.git',
  ref: 'refs/heads/main',
  before: sha(n),
  forced: false,
  deleted: false,
  receivedAt: '2026-01-01T00:00:00.000Z',
  ...overrides,
});

/** A bus whose rule for Commit Pushed feeds a new FIFO queue (content-based dedup, one group). */
const busToFifoQueue = async (target: Partial<Target> = {}) => {
  const { events, sqs } = clients();
  const name = uniqueName('plan');
  const { EventBusArn } = await events.send(new CreateEventBusCommand({ Name: name }));
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' },
    }),
  );
  const queueUrl = QueueUrl!;
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const queueArn = Attributes!.QueueArn!;
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: queueUrl,
      Attributes: {
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: 'sqs:SendMessage',
              Resource: queueArn,
            },
          ],
        }),
      },
    }),
  );
  const { RuleArn } = await events.send(
    new PutRuleCommand({
      Name: `${name}-rule`,
      EventBusName: name,
      EventPattern: JSON.stringify({ source: [EVENT_SOURCE], 'detail-type': ['Commit Pushed'] }),
    }),
  );
  const put = await events.send(
    new PutTargetsCommand({
      Rule: `${name}-rule`,
      EventBusName: name,
      // EventBridge sets a FIFO target's group statically; the plan core orders by generation anyway.
      Targets: [
        { Id: 'plan', Arn: queueArn, SqsParameters: { MessageGroupId: 'acme/fleet@main' }, ...target },
      ],
    }),
  );
  expect(put.FailedEntryCount ?? 0).toBe(0);
  return { busName: name, busArn: EventBusArn, ruleArn: RuleArn, queueUrl };
};

describe('EventBridgeBus → rule → SQS FIFO', () => {
  it('delivers every published event once, as an envelope, in the FIFO sequence it was enqueued', async () => {
    // GIVEN a rule for Commit Pushed feeding a FIFO queue with the whole event as input
    const { busName, queueUrl } = await busToFifoQueue();
    const bus = new EventBridgeBus({ busName, aws: aws() });
    const details = Array.from({ length: 12 }, (_, n) => commitPushed(n));

    // WHEN twelve pushes are published one after another
    for (const detail of details) await bus.publish([{ detailType: 'Commit Pushed', detail }]);

    // THEN all twelve arrive once, as envelopes the schema accepts, in the group's sequence order.
    // EventBridge itself does not keep publish order (neither AWS nor LocalStack, which fans out
    // on a thread per PutEvents): the plan core orders pushes by generation, not by arrival.
    const messages = await receive(clients().sqs, queueUrl, { count: 13, timeoutMs: 8_000 });
    const envelopes = messages.map((message) => envelopeSchema.parse(JSON.parse(message.Body!)));
    expect(envelopes.every((envelope) => envelope['detail-type'] === 'Commit Pushed')).toBe(true);
    expect(envelopes.every((envelope) => envelope.source === EVENT_SOURCE)).toBe(true);
    const byCommit = (a: unknown, b: unknown) =>
      (a as CommitPushed).commit.localeCompare((b as CommitPushed).commit);
    expect(envelopes.map((envelope) => envelope.detail).sort(byCommit)).toEqual(details);
    expect(messages.every((message) => message.Attributes?.MessageGroupId === 'acme/fleet@main')).toBe(true);
    const sequence = messages.map((message) => BigInt(message.Attributes!.SequenceNumber!));
    expect(sequence).toEqual([...sequence].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it('publishes a batch larger than ten in PutEvents calls of at most ten', async () => {
    // GIVEN a bus feeding a FIFO queue
    const { busName, queueUrl } = await busToFifoQueue();
    const bus = new EventBridgeBus({ busName, aws: aws() });

    // WHEN 23 events go in one publish call (three PutEvents calls)
    await bus.publish(
      Array.from({ length: 23 }, (_, n) => ({ detailType: 'Commit Pushed', detail: commitPushed(n) })),
    );

    // THEN all 23 arrive
    const messages = await receive(clients().sqs, queueUrl, { count: 23, timeoutMs: 20_000 });
    const commits = messages.map((message) => envelopeSchema.parse(JSON.parse(message.Body!)).detail);
    expect(new Set(commits.map((detail) => (detail as CommitPushed).commit)).size).toBe(23);
  });

  it('drops a repeated detail when the target passes only the detail to a content-deduplicated queue', async () => {
    // GIVEN a rule whose FIFO target receives `$.detail` (no per-event id or time in the body)
    const { busName, queueUrl } = await busToFifoQueue({ InputPath: '$.detail' });
    const bus = new EventBridgeBus({ busName, aws: aws() });
    const detail = commitPushed(7);

    // WHEN the same push is published twice (a webhook redelivery) and then a different one
    await bus.publish([{ detailType: 'Commit Pushed', detail }]);
    await bus.publish([{ detailType: 'Commit Pushed', detail }]);
    await bus.publish([{ detailType: 'Commit Pushed', detail: commitPushed(8) }]);

    // THEN the queue holds two messages: the repeat was deduplicated
    const messages = await receive(clients().sqs, queueUrl, { count: 3, timeoutMs: 6_000 });
    expect(messages.map((message) => JSON.parse(message.Body!).commit).sort()).toEqual([sha(8), sha(9)]);
  });

  it('refuses an event whose detail does not match its schema, and sends nothing', async () => {
    // GIVEN a bus feeding a queue
    const { busName, queueUrl } = await busToFifoQueue();
    const bus = new EventBridgeBus({ busName, aws: aws() });

    // WHEN a batch holding one valid and one invalid event is published
    const error = await bus
      .publish([
        { detailType: 'Commit Pushed', detail: commitPushed(1) },
        { detailType: 'Commit Pushed', detail: commitPushed(2, { commit: 'not-a-sha' }) },
      ])
      .catch((caught: unknown) => caught);

    // THEN it fails with BAD_INPUT naming the field, and the valid event was not sent either
    expect(isSluiceError(error) && error.code).toBe('BAD_INPUT');
    expect(String((error as Error).message)).toContain('commit');
    expect(await receive(clients().sqs, queueUrl, { count: 1, timeoutMs: 2_500 })).toEqual([]);
  });
});

describe('SqsAgentDispatcher', () => {
  it('sends to the queue of the target region, deduplicating FIFO messages by dedupId', async () => {
    // GIVEN FIFO agent queues in two regions
    const { sqs } = clients();
    const name = uniqueName('agent');
    const queues: Record<string, string> = {};
    for (const region of ['us-east-1', 'eu-west-1']) {
      const regional = new SQSClient({
        region,
        endpoint: aws().endpoint,
      });
      const { QueueUrl } = await regional.send(
        new CreateQueueCommand({ QueueName: `${name}.fifo`, Attributes: { FifoQueue: 'true' } }),
      );
      queues[region] = QueueUrl!;
    }
    const dispatcher = new SqsAgentDispatcher({
      queueUrlFor: (target) => queues[target.region]!,
      aws: aws(),
    });
    const target = { name: 'prod-euw1', cloud: 'aws', region: 'eu-west-1', agent: 'lambda' as const };

    // WHEN the same apply request is sent twice, then another one
    await dispatcher.send(target, { body: '{"n":1}', dedupId: `web@prod-euw1@${sha(1)}` });
    await dispatcher.send(target, { body: '{"n":1}', dedupId: `web@prod-euw1@${sha(1)}` });
    await dispatcher.send(target, { body: '{"n":2}', dedupId: `web@prod-euw1@${sha(2)}` });

    // THEN the eu-west-1 queue holds two messages in the target's group; us-east-1 holds none
    const euw1 = new SQSClient({
      region: 'eu-west-1',
      endpoint: aws().endpoint,
    });
    const messages = await receive(euw1, queues['eu-west-1']!, { count: 3, timeoutMs: 4_000 });
    expect(messages.map((message) => message.Body)).toEqual(['{"n":1}', '{"n":2}']);
    expect(messages.every((message) => message.Attributes?.MessageGroupId === 'prod-euw1')).toBe(true);
    expect(await receive(sqs, queues['us-east-1']!, { count: 1, timeoutMs: 1_500 })).toEqual([]);
  });
});
