/**
 * Multi-account and multi-region on the emulator. LocalStack takes the caller's account from its
 * access key id (a 12-digit key id is that account) and stamps it into every event's `account`,
 * as EventBridge does: so an outcome "from the wrong account" here is one put with that account's
 * credentials, and the envelope account report checks is LocalStack's, not the sender's.
 */

import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutEventsCommand,
  PutPermissionCommand,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  BundleCopyingDispatcher,
  bundleBucketName,
} from '../../shared/adapters/aws/bundle-copying-dispatcher.ts';
import { clientConfig, s3ClientConfig } from '../../shared/adapters/aws/client-config.ts';
import { SqsAgentDispatcher } from '../../shared/adapters/aws/sqs-agent-dispatcher.ts';
import { localContext } from '../../shared/adapters/local/event-source.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { ownersFromAgentQueues } from '../../shared/core/report.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { type DeploymentSucceeded, envelopeSchema } from '../../shared/schemas/events.ts';
import { buildTestApp } from '../infra/support.ts';
import { putAlarmEvent } from '../support/emulator-deploy.ts';
import { aws, receive, toRecord, uniqueName } from './support.ts';

/** Credentials of one emulated account: LocalStack reads the account from a 12-digit key id. */
const as = (account: string, region = aws().region) => {
  const settings = { ...aws(), region };
  const credentials = { accessKeyId: account, secretAccessKey: 'test' };
  return {
    events: new EventBridgeClient({ ...clientConfig(settings), credentials }),
    sqs: new SQSClient({ ...clientConfig(settings), credentials }),
    s3: new S3Client({ ...s3ClientConfig(settings), credentials }),
  };
};

const randomAccount = (): string => `9${String(Math.floor(Math.random() * 1e11)).padStart(11, '0')}`;

const MANAGEMENT = '111111111111';
const OWNER = '222222222222';
const INTRUDER = '333333333333';

/** A queue the sluice bus may deliver to, with a rule for agent outcomes on `busName`. */
const reportQueue = async (busName: string): Promise<string> => {
  const { sqs, events } = as(MANAGEMENT);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('report') }));
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const queueArn = Attributes!.QueueArn!;
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl,
      Attributes: {
        Policy: JSON.stringify({
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
  await events.send(
    new PutRuleCommand({
      Name: 'report',
      EventBusName: busName,
      EventPattern: JSON.stringify({ source: ['sluice'], 'detail-type': ['Deployment Succeeded'] }),
    }),
  );
  await events.send(
    new PutTargetsCommand({ Rule: 'report', EventBusName: busName, Targets: [{ Id: 'q', Arn: queueArn }] }),
  );
  return QueueUrl!;
};

const outcome = (target: string): DeploymentSucceeded => ({
  schemaVersion: 1,
  traceId: 'trace-multi-account',
  repo: 'acme/fleet',
  branch: 'main',
  commit: 'a'.repeat(40),
  occurredAt: '2026-12-06T00:00:00.000Z',
  generation: 1,
  app: 'web',
  target,
  digest: `sha256:${'1'.repeat(64)}`,
  applied: 1,
  unchanged: 0,
  pruned: 0,
  durationMs: 5,
});

describe('report on the emulator: outcomes only from the account that owns the target', () => {
  it('records the owner’s outcome and refuses the same outcome put by another account', async () => {
    // GIVEN a sluice bus in the management account that accepts PutEvents from two agent accounts,
    // and prod-euw1 served by the regional stack in OWNER (its agent queue is in OWNER)
    const { events } = as(MANAGEMENT);
    const busName = uniqueName('sluice');
    const { EventBusArn } = await events.send(new CreateEventBusCommand({ Name: busName }));
    for (const account of [OWNER, INTRUDER]) {
      await events.send(
        new PutPermissionCommand({
          EventBusName: busName,
          Action: 'events:PutEvents',
          Principal: account,
          StatementId: `agents-${account}`,
        }),
      );
    }
    const queueUrl = await reportQueue(busName);
    const owners = ownersFromAgentQueues({
      targets: { 'prod-euw1': `https://sqs.eu-west-1.amazonaws.com/${OWNER}/sluice-agent-eu-west-1.fifo` },
      regions: {},
    });
    const ledger = new FileLedger();

    // WHEN the intruder's account puts "prod-euw1 Healthy at generation 2", and then the owner generation 1
    const put = (account: string, generation: number) =>
      as(account).events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: EventBusArn,
              Source: 'sluice',
              DetailType: 'Deployment Succeeded',
              Detail: JSON.stringify({ ...outcome('prod-euw1'), generation }),
            },
          ],
        }),
      );
    const intruderPut = await put(INTRUDER, 2);
    const ownerPut = await put(OWNER, 1);
    expect([intruderPut.FailedEntryCount, ownerPut.FailedEntryCount]).toEqual([0, 0]);
    const messages = await receive(as(MANAGEMENT).sqs, queueUrl, { count: 2, timeoutMs: 15_000 });

    // THEN the report function (the one composition root, as the Lambda builds it) refuses the
    // intruder's outcome — parked with its reason — and records the owner's
    const parked: string[] = [];
    const metrics: Record<string, unknown>[] = [];
    const report = createPipeline(
      {
        clock: { now: () => new Date() },
        ledger,
        owners,
        deadLetters: { park: async (_message, reason) => void parked.push(reason) },
      },
      { metricsSink: (emf) => void metrics.push(emf) },
    ).handler('report');
    await report(
      { Records: messages.map((m) => toRecord(m, 'arn:aws:sqs:us-east-1:111111111111:report')) },
      localContext('report'),
    );
    expect(parked).toEqual([
      expect.stringContaining(`from account ${INTRUDER} in us-east-1 refused: only account ${OWNER}`),
    ]);
    // AND only the accepted outcome is counted (the deployments dashboard and alarm read it)
    expect(metrics.map((m) => m.DeploymentsSucceeded).filter((v) => v !== undefined)).toEqual([1]);
    // AND the ledger shows the owner's generation 1, not the intruder's generation 2
    expect(await ledger.getDeployment('web', 'prod-euw1')).toMatchObject({ generation: 1, state: 'Healthy' });
  });
});

describe('BundleCopyingDispatcher: bundles served from the target region', () => {
  it('copies the bundle into the agent region’s bucket before the agent queue hears of it', async () => {
    // GIVEN a bundle in the management bucket, and a target in eu-west-1 whose agent account has
    // a bundle bucket there and a FIFO agent queue
    const agentAccount = randomAccount();
    const mgmt = as(MANAGEMENT);
    const source = uniqueName('bundles-mgmt');
    await mgmt.s3.send(new CreateBucketCommand({ Bucket: source }));
    const key = `bundles/${'2'.repeat(64)}.json`;
    const body = '[{"kind":"ConfigMap","metadata":{"name":"web"}}]';
    await mgmt.s3.send(new PutObjectCommand({ Bucket: source, Key: key, Body: body }));
    const region = 'eu-west-1';
    const agent = as(agentAccount, region);
    const destination = bundleBucketName(agentAccount, region);
    await agent.s3.send(
      new CreateBucketCommand({
        Bucket: destination,
        CreateBucketConfiguration: { LocationConstraint: region },
      }),
    );
    const { QueueUrl } = await agent.sqs.send(
      new CreateQueueCommand({
        QueueName: `${uniqueName('agent')}.fifo`,
        Attributes: { FifoQueue: 'true' },
      }),
    );
    const queueUrlFor = () => QueueUrl!;
    const dispatcher = new BundleCopyingDispatcher({
      inner: new SqsAgentDispatcher({ queueUrlFor, clientFor: () => agent.sqs }),
      queueUrlFor,
      sourceBucket: source,
      aws: aws(),
      clientFor: () => agent.s3,
    });
    const target = { name: 'prod-euw1', cloud: 'aws', region, agent: 'lambda' as const };
    const request = (app: string, generation: number) => ({
      body: JSON.stringify({ app, generation, target, bundle: { key } }),
      dedupId: `${app}:prod-euw1:${generation}`,
    });

    // WHEN dispatch hands web generation 1 and 2, and api generation 1, to the agent
    await dispatcher.send(target, request('web', 1));
    await dispatcher.send(target, request('web', 2));
    await dispatcher.send(target, request('api', 1));

    // THEN the agent's regional bucket holds the same bytes
    const copied = await agent.s3.send(new GetObjectCommand({ Bucket: destination, Key: key }));
    expect(await copied.Body!.transformToString()).toBe(body);
    // AND taking one message at a time, as the agent Lambda does (batch size 1): while web
    // generation 1 is in flight the agent gets api's delivery but not web's next one — one delivery
    // per (target, app) at a time
    const taken: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [message] = await receive(agent.sqs, QueueUrl!, { count: 1, timeoutMs: 2_000, keep: true });
      if (message)
        taken.push(`${message.Attributes?.MessageGroupId}#${JSON.parse(message.Body!).generation}`);
    }
    expect(taken.sort()).toEqual(['prod-euw1/api#1', 'prod-euw1/web#1']);
  });

  it('copies nothing when the agent shares the management bucket (same account and region)', async () => {
    // GIVEN a target whose agent queue is in the account and region of the management bucket
    const sent: string[] = [];
    const dispatcher = new BundleCopyingDispatcher({
      inner: { send: async (_t, m) => void sent.push(m.dedupId) },
      queueUrlFor: () => `https://sqs.us-east-1.amazonaws.com/${MANAGEMENT}/sluice-agent-us-east-1.fifo`,
      sourceBucket: bundleBucketName(MANAGEMENT, 'us-east-1'),
      aws: aws(),
      // No S3 call may be made: a client that fails on use proves it.
      clientFor: () => {
        throw new Error('no copy expected');
      },
    });
    // WHEN dispatch hands over a bundle
    await dispatcher.send(
      { name: 'prod-use1', cloud: 'aws', region: 'us-east-1', agent: 'lambda' },
      {
        body: JSON.stringify({ app: 'web', bundle: { key: `bundles/${'3'.repeat(64)}.json` } }),
        dedupId: 'd1',
      },
    );
    // THEN it goes straight to the queue
    expect(sent).toEqual(['d1']);
  });
});

/** The EventPattern of the one rule in `template` whose logical id starts with `id`. */
const patternOf = (template: Template, id: string): string => {
  const [rule] = Object.entries(template.findResources('AWS::Events::Rule')).filter(([logicalId]) =>
    logicalId.startsWith(id),
  );
  if (rule === undefined) throw new Error(`no rule ${id}`);
  return JSON.stringify(rule[1].Properties.EventPattern);
};

describe('alarms of another region reach the rollback queue', () => {
  it("forwards an app's ALARM from a second region's default bus to the sluice bus and its rollback rule", async () => {
    // GIVEN the synthesised rules: the eu-west-1 regional stack's forwarding rule on its default
    // bus, and the management stack's rollback rule on the sluice bus, created on the emulator
    const app = buildTestApp();
    const forward = patternOf(Template.fromStack(app.regional[1]!), 'ForwardAlarms');
    const rollback = patternOf(Template.fromStack(app.management), 'ForwardedAlarmRule');
    const home = as(MANAGEMENT, 'us-east-1');
    const busName = uniqueName('sluice');
    const { EventBusArn } = await home.events.send(new CreateEventBusCommand({ Name: busName }));
    const { QueueUrl } = await home.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('rollback') }));
    const { Attributes } = await home.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await home.events.send(
      new PutRuleCommand({ Name: 'rollback', EventBusName: busName, EventPattern: rollback }),
    );
    await home.events.send(
      new PutTargetsCommand({
        Rule: 'rollback',
        EventBusName: busName,
        Targets: [{ Id: 'q', Arn: Attributes!.QueueArn! }],
      }),
    );
    const away = as(MANAGEMENT, 'eu-west-1');
    const ruleName = uniqueName('forward-alarms');
    await away.events.send(new PutRuleCommand({ Name: ruleName, EventPattern: forward }));
    await away.events.send(
      new PutTargetsCommand({
        Rule: ruleName,
        Targets: [{ Id: 'bus', Arn: EventBusArn!, RoleArn: `arn:aws:iam::${MANAGEMENT}:role/forward` }],
      }),
    );

    // WHEN an app's alarm and a sluice-* alarm enter ALARM in eu-west-1
    const name = uniqueName('hello-errors');
    for (const alarmName of [name, `sluice-agent-${name}`]) {
      await putAlarmEvent(aws(), alarmName, 'eu-west-1', away.events);
    }

    // THEN the app's alarm, and only it, reaches the rollback queue in the management region
    const messages = await receive(home.sqs, QueueUrl!, { count: 2, timeoutMs: 10_000 });
    const received = messages.map((m) => envelopeSchema.parse(JSON.parse(m.Body!)));
    expect(received.map((e) => [(e.detail as { alarmName: string }).alarmName, e.region])).toEqual([
      [name, 'eu-west-1'],
    ]);
  });
});
