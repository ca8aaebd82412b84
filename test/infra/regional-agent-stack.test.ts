import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateDeployConfig } from '../../infra/config.ts';
import { SLUICE_ENV } from '../../shared/config/env.ts';
import { MAX_RECEIVE_COUNT } from '../../shared/routing.ts';
import { buildTestApp, MANAGEMENT } from './support.ts';

let sameAccount: Template;
let otherAccount: Template;
let inCluster: Template;

beforeAll(() => {
  const { regional } = buildTestApp();
  const [same, other, cluster] = regional.map((stack) => Template.fromStack(stack));
  sameAccount = same!;
  otherAccount = other!;
  inCluster = cluster!;
});

describe('RegionalAgentStack', () => {
  it('creates the region agent queue, FIFO, with a dead-letter queue', () => {
    otherAccount.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'sluice-agent-eu-west-1.fifo',
      FifoQueue: true,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: MAX_RECEIVE_COUNT }),
    });
    otherAccount.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'sluice-agent-eu-west-1-dlq.fifo',
      FifoQueue: true,
    });
  });

  it('gives a Lambda agent a standard health queue it consumes and schedules its re-checks on', () => {
    // A FIFO queue cannot delay one message: the re-checks wait on a standard queue beside it.
    otherAccount.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'sluice-agent-eu-west-1-health',
      FifoQueue: Match.absent(),
      RedrivePolicy: Match.objectLike({ maxReceiveCount: MAX_RECEIVE_COUNT }),
    });
    otherAccount.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [SLUICE_ENV.healthQueueUrl]: Match.anyValue(),
          [SLUICE_ENV.healthDeadLetterQueueUrl]: Match.anyValue(),
        }),
      },
    });
    // Consumed by the agent (two event sources: the FIFO agent queue and the health queue)
    expect(Object.keys(otherAccount.findResources('AWS::Lambda::EventSourceMapping'))).toHaveLength(2);
    // AND its dead-letter queue pages like the others; the in-cluster agent waits in process: no queue
    otherAccount.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('health-dlq-parked$'),
    });
    expect(
      Object.values(inCluster.findResources('AWS::SQS::Queue')).map(
        (q) => (q as { Properties: { QueueName?: string } }).Properties.QueueName,
      ),
    ).not.toContainEqual(expect.stringMatching(/-health$/));
  });

  it('lets the management account send to the agent queue', () => {
    otherAccount.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sqs:SendMessage',
            Principal: { AWS: { 'Fn::Join': ['', Match.arrayWith([`:iam::${MANAGEMENT}:root`])] } },
          }),
        ]),
      },
    });
  });

  it('forwards agent outcomes from another account to the management bus', () => {
    // GIVEN an agent in another account THEN it publishes to its default bus, and a rule forwards
    otherAccount.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Environment: { Variables: Match.objectLike({ [SLUICE_ENV.busName]: 'default' }) },
    });
    otherAccount.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['sluice'] }),
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::Join': ['', Match.arrayWith([`:events:us-east-1:${MANAGEMENT}:event-bus/sluice`])] },
        }),
      ],
    });
  });

  it('schedules drift checks of the targets a Lambda agent serves onto its own queue', () => {
    // GIVEN a Lambda agent serving prod-use1 THEN a schedule sends Drift Check Requested naming it
    sameAccount.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      Target: Match.objectLike({
        Arn: Match.objectLike({ 'Fn::GetAtt': Match.arrayWith(['Arn']) }),
        Input: JSON.stringify({ schemaVersion: 1, requestedBy: 'schedule', targets: ['prod-use1'] }),
      }),
    });
    // AND an agent with no targets named, or one inside the cluster (its own --drift-interval), gets none
    otherAccount.resourceCountIs('AWS::Scheduler::Schedule', 0);
    inCluster.resourceCountIs('AWS::Scheduler::Schedule', 0);
  });

  it('publishes straight to the management bus when the agent lives in the management account/region', () => {
    sameAccount.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'events:PutEvents',
            Resource: {
              'Fn::Join': ['', Match.arrayWith([`:events:us-east-1:${MANAGEMENT}:event-bus/sluice`])],
            },
          }),
        ]),
      },
    });
    expect(Object.keys(sameAccount.findResources('AWS::Events::Rule'))).toEqual([]);
  });

  it('consumes the agent queue with partial batch responses', () => {
    otherAccount.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('gives an in-cluster agent a role instead of a Lambda, assumed through EKS Pod Identity by default', () => {
    expect(Object.keys(inCluster.findResources('AWS::Lambda::Function'))).toEqual([]);
    const [, , , podIdentity] = buildTestApp(
      validateDeployConfig(
        {
          management: { account: MANAGEMENT, region: 'us-east-1' },
          regions: [
            { account: MANAGEMENT, region: 'us-east-1', agent: 'lambda' },
            { account: '222222222222', region: 'eu-west-1', agent: 'lambda' },
            {
              account: '444444444444',
              region: 'eu-central-1',
              agent: 'in-cluster',
              targets: ['onprem-fra1'],
            },
            { account: '555555555555', region: 'ap-south-1', agent: 'in-cluster' },
          ],
        },
        'test',
      ),
    ).regional.map((stack) => Template.fromStack(stack));
    podIdentity!.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['sts:AssumeRole', 'sts:TagSession'],
            Principal: { Service: 'pods.eks.amazonaws.com' },
          }),
        ]),
      },
    });
    inCluster.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['sqs:ReceiveMessage', 'sqs:DeleteMessage']) }),
        ]),
      },
    });
  });

  it('lets the Lambda agent DescribeCluster exactly its EKS clusters, and tells it which targets they serve', () => {
    // GIVEN a Lambda agent with eksClusters { prod-use1: prod }, and one without
    // THEN the first may describe arn:…:eks:us-east-1:111111111111:cluster/prod and knows the map
    sameAccount.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'eks:DescribeCluster',
            Resource: {
              'Fn::Join': ['', Match.arrayWith([':eks:us-east-1:111111111111:cluster/prod'])],
            },
          }),
        ]),
      },
    });
    sameAccount.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [SLUICE_ENV.eksClusters]: '{"prod-use1":"prod"}' }) },
    });
    expect(JSON.stringify(otherAccount.toJSON())).not.toContain('eks:DescribeCluster');
  });
});
