import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateDeployConfig } from '../../infra/config.ts';
import { DRIFT_CHECK_GROUP } from '../../infra/stacks/regional-agent-stack.ts';
import { SLUICE_ENV } from '../../shared/config/env.ts';
import { buildTestApp, MANAGEMENT, TRUST_ANCHOR } from './support.ts';

let management: Template;
let sameAccount: Template;
let otherAccount: Template;
let onPrem: Template;

beforeAll(() => {
  const app = buildTestApp();
  management = Template.fromStack(app.management);
  [sameAccount, otherAccount, onPrem] = app.regional.map((stack) => Template.fromStack(stack)) as [
    Template,
    Template,
    Template,
  ];
});

const managementBusArn = Match.arrayWith([`:events:us-east-1:${MANAGEMENT}:event-bus/sluice`]);

describe('Multi-account and multi-region', () => {
  it('forwards every alarm state change of another account/region to the management bus, with a role', () => {
    otherAccount.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: { state: { value: ['ALARM', 'OK'] } },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::Join': ['', managementBusArn] },
          RoleArn: { 'Fn::GetAtt': Match.arrayWith(['Arn']) },
          DeadLetterConfig: Match.objectLike({ Arn: Match.anyValue() }),
        }),
      ],
    });
    // AND the stack sharing the management account/region needs no forwarding: its default bus is the management one
    sameAccount.resourceCountIs('AWS::Events::Rule', 0);
  });

  it('accepts forwarded alarms on the management bus from exactly the configured accounts', () => {
    management.hasResourceProperties('AWS::Events::EventBusPolicy', {
      StatementId: 'cdk-RegionalAlarmsForwarded',
      Statement: {
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Principal: {
          AWS: [
            { 'Fn::Join': ['', Match.arrayWith([':iam::222222222222:root'])] },
            { 'Fn::Join': ['', Match.arrayWith([':iam::444444444444:root'])] },
          ],
        },
        Condition: {
          StringEquals: {
            'events:source': 'aws.cloudwatch',
            'events:detail-type': 'CloudWatch Alarm State Change',
          },
        },
        Resource: Match.anyValue(),
      },
    });
  });

  it('rolls back on forwarded app alarms from the sluice bus, as on the default bus', () => {
    const rollbackQueue = Object.keys(
      management.findResources('AWS::SQS::Queue', { Properties: { QueueName: 'sluice-rollback' } }),
    )[0]!;
    for (const bus of [true, false]) {
      management.hasResourceProperties('AWS::Events::Rule', {
        ...(bus
          ? { EventBusName: { Ref: Match.stringLikeRegexp('^Bus') } }
          : { EventBusName: Match.absent() }),
        EventPattern: {
          source: ['aws.cloudwatch'],
          'detail-type': ['CloudWatch Alarm State Change'],
          detail: { state: { value: ['ALARM'] }, alarmName: [{ 'anything-but': { prefix: 'sluice-' } }] },
        },
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [rollbackQueue, 'Arn'] } })],
      });
    }
  });

  it('tells report which account owns each target', () => {
    management.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Sluice report',
      Environment: {
        Variables: Match.objectLike({
          [SLUICE_ENV.agentQueues]: Match.stringLikeRegexp(
            '"onprem-fra1":"https://sqs.eu-central-1.amazonaws.com/444444444444/',
          ),
        }),
      },
    });
  });

  it('feeds the Lambda agent one message at a time from a FIFO queue, drift checks in their own group', () => {
    otherAccount.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 1 });
    sameAccount.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({ SqsParameters: { MessageGroupId: DRIFT_CHECK_GROUP } }),
    });
  });

  it("serves bundles from a bucket in the agent's own region, which the management account fills", () => {
    // GIVEN the regional stack in 222222222222/eu-west-1
    otherAccount.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'sluice-bundles-222222222222-eu-west-1',
      PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true }),
    });
    otherAccount.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'ManagementAccountCopiesBundles',
            Action: ['s3:PutObject', 's3:GetObject'],
            Principal: { AWS: { 'Fn::Join': ['', Match.arrayWith([`:iam::${MANAGEMENT}:root`])] } },
          }),
        ]),
      },
    });
    // THEN its agent reads that bucket in its own region
    otherAccount.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [SLUICE_ENV.bucket]: { Ref: Match.stringLikeRegexp('^Bundles') },
          [SLUICE_ENV.bucketRegion]: 'eu-west-1',
        }),
      },
    });
    // AND dispatch and rollback may write bundles there (and read them from the management bucket)
    for (const fn of ['Dispatch', 'Rollback']) {
      management.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp(`^${fn}ServiceRole`) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: ['s3:PutObject', 's3:GetObject'],
              Resource: Match.arrayWith([
                {
                  'Fn::Join': [
                    '',
                    Match.arrayWith([':s3:::sluice-bundles-222222222222-eu-west-1/bundles/*']),
                  ],
                },
              ]),
            }),
          ]),
        },
      });
    }
    // AND the management bucket no longer lets other accounts read it
    expect(JSON.stringify(management.findResources('AWS::S3::BucketPolicy'))).not.toContain('222222222222');
  });

  it('runs the Lambda agent in the configured VPC subnets and security groups', () => {
    otherAccount.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
      },
    });
    otherAccount.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: Match.arrayWith([
        {
          'Fn::Join': [
            '',
            Match.arrayWith([':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole']),
          ],
        },
      ]),
    });
    sameAccount.hasResourceProperties('AWS::Lambda::Function', { VpcConfig: Match.absent() });
  });

  it('lets an on-prem agent assume its role only through the configured Roles Anywhere trust anchor and CN', () => {
    const anchor = `arn:aws:rolesanywhere:eu-central-1:444444444444:trust-anchor/${TRUST_ANCHOR}`;
    onPrem.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'sts:AssumeRole',
            Principal: { Service: 'rolesanywhere.amazonaws.com' },
            Condition: {
              ArnEquals: { 'aws:SourceArn': anchor },
              StringEquals: { 'aws:PrincipalTag/x509Subject/CN': 'sluice-agent-fra1' },
            },
          }),
        ]),
      },
    });
    onPrem.hasResourceProperties('AWS::RolesAnywhere::Profile', {
      RoleArns: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^InClusterAgentRole'), 'Arn'] }],
    });
  });

  it('scopes the on-prem role to its own queue, its region’s bundles and PutEvents', () => {
    const [policy] = Object.values(
      onPrem.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^InClusterAgentRole') }] },
      }),
    );
    const statements = policy!.Properties.PolicyDocument.Statement as {
      Action: string | string[];
      Resource: unknown;
    }[];
    const byAction = (action: string) =>
      statements.filter((s) => [s.Action].flat().includes(action)).map((s) => JSON.stringify(s.Resource));
    expect(byAction('sqs:ReceiveMessage')).toEqual([expect.stringContaining('AgentQueue')]);
    expect(byAction('s3:GetObject')).toEqual([expect.stringMatching(/Bundles.*\/bundles\/\*/)]);
    expect(byAction('events:PutEvents')).toEqual([expect.stringContaining('event-bus/default')]);
    expect(statements.flatMap((s) => [s.Action].flat()).sort()).toEqual(
      [
        'events:PutEvents',
        // The bundle-signing key's public half, to verify what it applies (SLUICE_SIGNING_KEY).
        'kms:GetPublicKey',
        's3:GetObject',
        's3:ListBucket',
        'secretsmanager:GetSecretValue',
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
      ].sort(),
    );
  });

  it('lets a named IAM principal assume an in-cluster role when no trust anchor is configured', () => {
    const app = buildTestApp(
      validateDeployConfig(
        {
          management: { account: MANAGEMENT, region: 'us-east-1' },
          regions: [
            {
              account: '444444444444',
              region: 'eu-central-1',
              agent: 'in-cluster',
              agentIdentity: { principalArn: 'arn:aws:iam::444444444444:role/onprem-runner' },
            },
          ],
        },
        'test',
      ),
    );
    Template.fromStack(app.regional[0]!).hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { AWS: 'arn:aws:iam::444444444444:role/onprem-runner' } })],
      },
    });
  });

  it('refuses a VPC for an in-cluster agent and a trust anchor for a Lambda agent', () => {
    const config = (region: Record<string, unknown>) => () =>
      validateDeployConfig(
        { management: { account: MANAGEMENT, region: 'us-east-1' }, regions: [region] },
        'sluice.deploy.yaml',
      );
    expect(
      config({
        account: MANAGEMENT,
        region: 'eu-west-1',
        agent: 'in-cluster',
        vpc: { vpcId: 'vpc-01234567', subnetIds: ['subnet-01234567'], securityGroupIds: ['sg-01234567'] },
      }),
    ).toThrow(
      /regions\[0\]\.vpc: vpc is set but agent is "in-cluster".*Fix: remove vpc, or set agent: lambda/,
    );
    expect(
      config({
        account: MANAGEMENT,
        region: 'eu-west-1',
        agent: 'lambda',
        agentIdentity: { principalArn: 'arn:aws:iam::111111111111:role/x' },
      }),
    ).toThrow(/agentIdentity is set but agent is "lambda"/);
  });
});
