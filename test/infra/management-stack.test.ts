import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUS_NAME, PLAN_GROUP_ID, ROLLOUT_QUEUE } from '../../infra/stacks/management-stack.ts';
import { SLUICE_ENV } from '../../shared/config/env.ts';
import { MAX_RECEIVE_COUNT, ROLLBACK_ROUTE, ROUTES } from '../../shared/routing.ts';
import { buildTestApp } from './support.ts';

let template: Template;

beforeAll(() => {
  template = Template.fromStack(buildTestApp().management);
});

const logicalIdOfQueue = (queueName: string): string => {
  const [id] = Object.keys(
    template.findResources('AWS::SQS::Queue', { Properties: { QueueName: queueName } }),
  );
  if (id === undefined) throw new Error(`no queue named ${queueName}`);
  return id;
};

/** The IAM policy document of a function's role, as JSON. */
const policyOf = (fn: string): string =>
  JSON.stringify(
    Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) =>
      id.startsWith(`${fn}ServiceRole`),
    )?.[1],
  );

describe('ManagementStack', () => {
  it("lets ingest read each repo's own webhook secret under sluice/webhooks/ and nothing wider", () => {
    // GIVEN the management stack THEN a policy grants GetSecretValue on exactly that prefix
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'secretsmanager:GetSecretValue',
            Resource: {
              'Fn::Join': [
                '',
                Match.arrayWith([':secretsmanager:us-east-1:111111111111:secret:sluice/webhooks/*']),
              ],
            },
          }),
        ]),
      },
    });
  });

  it('makes the plan queue FIFO with content-based dedup and a FIFO dead-letter queue', () => {
    // GIVEN the routing table's plan queue
    const plan = ROUTES.find((r) => r.fn === 'plan')!;
    // THEN it is FIFO, deduplicated by content, delayed by the coalescing window, redriven after N receives
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: plan.queue,
      FifoQueue: true,
      ContentBasedDeduplication: true,
      DelaySeconds: 2,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOfQueue('sluice-plan-dlq.fifo'), 'Arn'] },
        maxReceiveCount: MAX_RECEIVE_COUNT,
      },
    });
  });

  it.each(ROUTES.map((r) => [r.fn, r] as const))(
    'routes %s events from the sluice bus to its own queue',
    (_, route) => {
      // GIVEN a ROUTES entry
      // THEN one rule on the sluice bus matches its detail-types and targets its queue, with a DLQ
      template.hasResourceProperties('AWS::Events::Rule', {
        EventBusName: { Ref: Match.stringLikeRegexp('^Bus') },
        EventPattern: { source: ['sluice'], 'detail-type': [...route.detailTypes] },
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [logicalIdOfQueue(route.queue), 'Arn'] },
            DeadLetterConfig: {
              Arn: { 'Fn::GetAtt': [logicalIdOfQueue('sluice-event-delivery-dlq'), 'Arn'] },
            },
            ...(route.fifo ? { SqsParameters: { MessageGroupId: PLAN_GROUP_ID } } : {}),
          }),
        ],
      });
      // AND the queue itself redrives to its own dead-letter queue
      const [queue] = Object.values(
        template.findResources('AWS::SQS::Queue', { Properties: { QueueName: route.queue } }),
      );
      expect(queue?.Properties.RedrivePolicy.maxReceiveCount).toBe(MAX_RECEIVE_COUNT);
    },
  );

  it('feeds each consumer function from its queue with partial batch responses', () => {
    for (const route of ROUTES) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [logicalIdOfQueue(route.queue), 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it('runs every function on nodejs22.x with X-Ray tracing; ARM64 but for render, whose kubectl/helm are x86-64', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions).length).toBeGreaterThanOrEqual(5);
    for (const fn of Object.values(functions)) {
      const usesKubectlLayer = JSON.stringify(fn.Properties.Environment ?? {}).includes('SLUICE_KUBECTL');
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: [usesKubectlLayer ? 'x86_64' : 'arm64'],
        TracingConfig: { Mode: 'Active' },
      });
    }
    expect(
      Object.values(functions).filter((fn) =>
        JSON.stringify(fn.Properties.Environment ?? {}).includes('SLUICE_KUBECTL'),
      ),
    ).toHaveLength(1);
  });

  it('sends CloudWatch alarms entering ALARM on the default bus to the rollback queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.absent(),
      EventPattern: {
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: { state: { value: ['ALARM'] }, alarmName: [{ 'anything-but': { prefix: 'sluice-' } }] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalIdOfQueue('sluice-rollback'), 'Arn'] } })],
    });
  });

  it('sends Rollback Requested and Deployment Failed from the sluice bus to the rollback queue too', () => {
    // GIVEN the rollback route THEN a rule on the sluice bus feeds the same queue as the alarm rule
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: Match.stringLikeRegexp('^Bus') },
      EventPattern: { source: ['sluice'], 'detail-type': [...ROLLBACK_ROUTE.detailTypes] },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalIdOfQueue(ROLLBACK_ROUTE.queue), 'Arn'] },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [logicalIdOfQueue('sluice-event-delivery-dlq'), 'Arn'] },
          },
        }),
      ],
    });
  });

  it('runs the rollback function on the rollback queue with what a rollback touches', () => {
    // GIVEN the rollback function THEN it consumes the rollback queue one trigger at a time
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOfQueue(ROLLBACK_ROUTE.queue), 'Arn'] },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // AND it knows the agent queues, the bus, the bucket and the Git secret
    const [rollback] = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Description: 'Sluice rollback' },
      }),
    );
    expect(Object.keys(rollback?.Properties.Environment.Variables ?? {})).toEqual(
      expect.arrayContaining([
        SLUICE_ENV.agentQueues,
        SLUICE_ENV.busName,
        SLUICE_ENV.bucket,
        SLUICE_ENV.gitSecret,
        SLUICE_ENV.repoUrls,
      ]),
    );
    // AND may send to the agent queues, read bundles, write the ledger and claims
    const policy = JSON.stringify(
      Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) =>
        id.startsWith('RollbackServiceRole'),
      )?.[1],
    );
    expect(policy).toContain('sqs:SendMessage');
    for (const prefix of ['bundles/*', 'ledger/*', 'idempotency/*']) expect(policy).toContain(prefix);
    expect(policy).toContain('events:PutEvents');
  });

  it('sends Rollout Approved and refused releases from the sluice bus to the rollout queue, which has a dead-letter queue', () => {
    // GIVEN the rollout queue THEN it is a standard queue (delayed wake-ups) redriven to its DLQ
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: ROLLOUT_QUEUE,
      FifoQueue: Match.absent(),
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOfQueue(`${ROLLOUT_QUEUE}-dlq`), 'Arn'] },
        maxReceiveCount: MAX_RECEIVE_COUNT,
      },
    });
    // AND `sluice approve --aws`'s event, and the releases dependsOn waiters must hear were refused
    // (render, policy, trust), reach it, failed deliveries parked in the delivery DLQ
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: Match.stringLikeRegexp('^Bus') },
      EventPattern: {
        source: ['sluice'],
        'detail-type': ['Rollout Approved', 'Render Failed', 'Policy Rejected', 'Release Rejected'],
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalIdOfQueue(ROLLOUT_QUEUE), 'Arn'] },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [logicalIdOfQueue('sluice-event-delivery-dlq'), 'Arn'] },
          },
        }),
      ],
    });
  });

  it('runs the rollout function on the rollout queue with what sending a wave touches', () => {
    // GIVEN the rollout function THEN it consumes the rollout queue, reporting failures per message
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOfQueue(ROLLOUT_QUEUE), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // AND it knows the agent queues, the bus, the bucket, the signing key and its own queue
    const [rollout] = Object.values(
      template.findResources('AWS::Lambda::Function', { Properties: { Description: 'Sluice rollout' } }),
    );
    expect(Object.keys(rollout?.Properties.Environment.Variables ?? {})).toEqual(
      expect.arrayContaining([
        SLUICE_ENV.agentQueues,
        SLUICE_ENV.busName,
        SLUICE_ENV.bucket,
        SLUICE_ENV.signingKey,
        SLUICE_ENV.rolloutQueueUrl,
        SLUICE_ENV.deadLetterQueueUrl,
      ]),
    );
    // AND may sign, send to the agent queues and its own queue, read bundles, write the ledger
    const policy = policyOf('Rollout');
    expect(policy).toContain('kms:Sign');
    expect(policy).toContain('sqs:SendMessage');
    expect(policy).toContain(`{"Fn::GetAtt":["${logicalIdOfQueue(ROLLOUT_QUEUE)}","Arn"]}`);
    for (const prefix of ['bundles/*', 'ledger/*']) expect(policy).toContain(prefix);
    expect(policy).toContain('events:PutEvents');
    // AND nothing it does not use: no claims, no event history
    expect(policy).not.toContain('idempotency/*');
    expect(policy).not.toContain('history/*');
  });

  it.each(['Dispatch', 'Report'])('lets %s wake rollouts on the rollout queue', (fn) => {
    // GIVEN dispatch (holds a wave's requests) and report (an outcome) THEN each is told the queue
    const [found] = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Description: `Sluice ${fn.toLowerCase()}` },
      }),
    );
    expect(found?.Properties.Environment.Variables[SLUICE_ENV.rolloutQueueUrl]).toEqual({
      Ref: logicalIdOfQueue(ROLLOUT_QUEUE),
    });
    // AND may send to it
    expect(policyOf(fn)).toContain(`{"Fn::GetAtt":["${logicalIdOfQueue(ROLLOUT_QUEUE)}","Arn"]}`);
  });

  it('lets dispatch split a bundle into chunks on its own queue, and takes one message per invocation', () => {
    // GIVEN the dispatch function THEN it is told its own queue, may send to it
    const [dispatch] = Object.values(
      template.findResources('AWS::Lambda::Function', { Properties: { Description: 'Sluice dispatch' } }),
    );
    expect(dispatch?.Properties.Environment.Variables[SLUICE_ENV.dispatchQueueUrl]).toEqual({
      Ref: logicalIdOfQueue('sluice-dispatch'),
    });
    expect(policyOf('Dispatch')).toContain(`{"Fn::GetAtt":["${logicalIdOfQueue('sluice-dispatch')}","Arn"]}`);
    // AND each invocation gets one message: no invocation hands over two chunks
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOfQueue('sluice-dispatch'), 'Arn'] },
      BatchSize: 1,
    });
  });

  it('alarms on a rollout queue message older than twice the longest wake-up delay, and on its DLQ', () => {
    for (const [suffix, threshold] of [
      ['rollout-queue-age', 1800],
      ['rollout-dlq-parked', 1],
    ] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: Match.stringLikeRegexp(`^sluice-${suffix}-`),
        Threshold: threshold,
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
      });
    }
  });

  it('lets the report function read the Git secret, for commit statuses with its token', () => {
    // GIVEN the report function THEN it is told the Git secret
    const [report] = Object.values(
      template.findResources('AWS::Lambda::Function', { Properties: { Description: 'Sluice report' } }),
    );
    expect(Object.keys(report?.Properties.Environment.Variables ?? {})).toContain(SLUICE_ENV.gitSecret);
    // AND may read it, and nothing more than it needs: no bus, no scratch space for clones
    const policy = JSON.stringify(
      Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) =>
        id.startsWith('ReportServiceRole'),
      )?.[1],
    );
    expect(policy).toContain('secretsmanager:GetSecretValue');
    expect(policy).toContain('{"Ref":"GitCredentials');
    expect(policy).not.toContain('events:PutEvents');
    expect(report?.Properties.EphemeralStorage).toBeUndefined();
  });

  it('keeps bundles in a versioned, encrypted bucket that refuses plain HTTP', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('lets only ingest read the webhook secret and only plan/render/report/rollback/rollout/reconcile read the Git credentials', () => {
    // GIVEN each function's policy
    const policies = template.findResources('AWS::IAM::Policy');
    const readers = (secretPrefix: string) =>
      Object.entries(policies)
        .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(`{"Ref":"${secretPrefix}`))
        .map(([id]) => id.replace(/ServiceRole.*/, ''))
        .sort();
    // THEN the grants are as narrow as the use
    expect(readers('WebhookSecret')).toEqual(['Ingest']);
    // (reconcile lists the configured repos' branch heads)
    expect(readers('GitCredentials')).toEqual([
      'Plan',
      'Reconcile',
      'Render',
      'Report',
      'Rollback',
      'Rollout',
    ]);
  });

  it('gives the render function kubectl and helm from the KubectlV34 layer', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Layers: [{ Ref: Match.stringLikeRegexp('^KubectlLayer') }],
      Environment: {
        Variables: Match.objectLike({
          SLUICE_KUBECTL: '/opt/kubectl/kubectl',
          SLUICE_HELM: '/opt/helm/helm',
        }),
      },
    });
  });

  it('routes dispatch to each regional agent queue by target, or by region when it is the only one there', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [SLUICE_ENV.agentQueues]: JSON.stringify({
            targets: {
              'prod-use1': 'https://sqs.us-east-1.amazonaws.com/111111111111/sluice-agent-us-east-1.fifo',
              'onprem-fra1':
                'https://sqs.eu-central-1.amazonaws.com/444444444444/sluice-agent-eu-central-1.fifo',
            },
            regions: {
              'us-east-1': 'https://sqs.us-east-1.amazonaws.com/111111111111/sluice-agent-us-east-1.fifo',
              'eu-west-1': 'https://sqs.eu-west-1.amazonaws.com/222222222222/sluice-agent-eu-west-1.fifo',
              'eu-central-1':
                'https://sqs.eu-central-1.amazonaws.com/444444444444/sluice-agent-eu-central-1.fifo',
            },
          }),
        }),
      },
    });
  });

  it('lets agents in other accounts report back to the sluice bus, for agent outcomes only', () => {
    template.hasResourceProperties('AWS::Events::EventBusPolicy', {
      Statement: Match.objectLike({
        Action: 'events:PutEvents',
        Principal: { AWS: Match.anyValue() },
        Condition: Match.objectLike({ StringEquals: { 'events:source': 'sluice' } }),
      }),
    });
    template.hasResourceProperties('AWS::Events::EventBus', { Name: BUS_NAME });
  });

  it('schedules the reconciliation poll on the sluice bus, and no drift check nothing there would consume', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({
        EventBridgeParameters: { DetailType: 'Reconcile Requested', Source: 'sluice' },
      }),
    });
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
  });

  it('outputs the webhook URL, the bus ARN and the queue URLs', () => {
    const outputs = Object.keys(template.findOutputs('*'));
    expect(outputs).toEqual(
      expect.arrayContaining(['WebhookUrl', 'BusArn', 'PlanQueueUrl', 'RollbackQueueUrl']),
    );
  });

  it('serves POST /webhooks/{provider} from the ingest function', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /webhooks/{provider}' });
  });
});
