import { Arn, ArnFormat, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import { SLUICE_ENV } from '../../shared/config/env.ts';
import { agentQueueName } from '../../shared/routing.ts';
import { EVENT_SOURCE } from '../../shared/schemas/events.ts';
import type { ManagementConfig, RegionalConfig } from '../config.ts';
import { ConsumerQueue, deadLetterQueue } from '../constructs/consumer-queue.ts';
import { SluiceFunction } from '../constructs/sluice-function.ts';
import { acceptFinding } from '../nag.ts';
import { AGENT_DETAIL_TYPES, BUS_NAME, bundleBucketName } from './management-stack.ts';

export interface RegionalAgentStackProps extends StackProps {
  readonly config: RegionalConfig;
  readonly management: ManagementConfig;
}

const AGENT_TIMEOUT = Duration.minutes(5);

/**
 * One per target account/region: the agent queue (+ DLQ) the management account sends Apply
 * Requested to, and the agent — a Lambda, or an IAM role for `sluice agent` inside the cluster
 * (EKS Pod Identity) — with read access to bundles and a path back to the management bus.
 */
export class RegionalAgentStack extends Stack {
  readonly agentQueue: ConsumerQueue;
  readonly agent: SluiceFunction | iam.Role;

  constructor(scope: Construct, id: string, props: RegionalAgentStackProps) {
    super(scope, id, props);
    const { config, management } = props;
    const sameEnv = config.account === management.account && config.region === management.region;

    this.agentQueue = new ConsumerQueue(this, 'AgentQueue', {
      queueName: agentQueueName(config.region),
      visibilityTimeout: Duration.seconds(AGENT_TIMEOUT.toSeconds() * 6),
    });
    // The management account's dispatch function sends each target's work here.
    this.agentQueue.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ManagementAccountDispatches',
        actions: ['sqs:SendMessage'],
        principals: [new iam.AccountPrincipal(management.account)],
        resources: [this.agentQueue.queue.queueArn],
      }),
    );

    const managementBus = events.EventBus.fromEventBusArn(
      this,
      'ManagementBus',
      Arn.format(
        {
          service: 'events',
          region: management.region,
          account: management.account,
          resource: 'event-bus',
          resourceName: BUS_NAME,
        },
        this,
      ),
    );
    // Outcomes go straight to the management bus when it is local; otherwise to this region's
    // default bus, from which a rule forwards them (EventBridge's cross-account/region path).
    const reportBus = sameEnv
      ? managementBus
      : events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    if (!sameEnv) {
      const forwardDlq = deadLetterQueue(this, 'ForwardDlq', `sluice-forward-dlq-${config.region}`);
      new events.Rule(this, 'ForwardOutcomes', {
        description: `Agent outcomes → the management bus in ${management.account}/${management.region}`,
        eventPattern: { source: [EVENT_SOURCE], detailType: [...AGENT_DETAIL_TYPES] },
        targets: [new targets.EventBus(managementBus, { deadLetterQueue: forwardDlq })],
      });
    }

    const bucket = s3.Bucket.fromBucketName(
      this,
      'Bundles',
      bundleBucketName(management.account, management.region),
    );
    const secretArns = Arn.format(
      {
        service: 'secretsmanager',
        resource: 'secret',
        resourceName: `${config.secretPrefix}*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      },
      this,
    );

    const readSecrets = new iam.PolicyStatement({
      actions: ['secretsmanager:GetSecretValue'],
      resources: [secretArns],
    });
    const secretsReason = `Manifests name their secrets at run time (aws-sm:// references); the agent may read only secrets named ${config.secretPrefix}*`;

    if (config.agent === 'lambda') {
      const fn = new SluiceFunction(this, 'Agent', { name: 'agent', timeout: AGENT_TIMEOUT })
        .bindBus(reportBus, { byArn: sameEnv })
        .bindBundles(bucket, { bundles: 'read' }, management.region)
        .bindQueue(this.agentQueue.queue, { batchSize: 5 });
      fn.addToRolePolicy(readSecrets);
      acceptFinding(fn, `IAM5[Resource::${secretArnPattern(config)}]`, secretsReason);
      // EKS targets through IAM: DescribeCluster on exactly those clusters; the cluster's access
      // entries map this role to a Kubernetes identity.
      const eksClusters = Object.values(config.eksClusters);
      if (eksClusters.length > 0) {
        fn.addEnvironment(SLUICE_ENV.eksClusters, JSON.stringify(config.eksClusters));
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['eks:DescribeCluster'],
            resources: eksClusters.map((name) =>
              Arn.format({ service: 'eks', resource: 'cluster', resourceName: name }, this),
            ),
          }),
        );
      }
      // Scheduled drift checks straight to this region's queue (EventBridge rules reach no queue in
      // another region). The agent learns its clusters by target name, so the message names them.
      const served = [...new Set([...config.targets, ...Object.keys(config.eksClusters)])];
      if (served.length > 0) {
        new scheduler.Schedule(this, 'DriftCheckSchedule', {
          description: `Drift Check Requested for ${served.join(', ')} every ${management.driftCheckMinutes} min`,
          schedule: scheduler.ScheduleExpression.rate(Duration.minutes(management.driftCheckMinutes)),
          target: new schedulerTargets.SqsSendMessage(this.agentQueue.queue, {
            input: scheduler.ScheduleTargetInput.fromObject({
              schemaVersion: 1,
              requestedBy: 'schedule',
              targets: served,
            }),
            deadLetterQueue: this.agentQueue.deadLetterQueue,
            retryAttempts: 3,
          }),
        });
      }
      fn.alarmOnErrors();
      this.agent = fn;
    } else {
      const role = new iam.Role(this, 'InClusterAgentRole', {
        description: 'sluice agent inside a cluster (EKS Pod Identity)',
        // Pod Identity assumes the role with session tags (cluster, namespace, service account).
        assumedBy: new iam.SessionTagsPrincipal(new iam.ServicePrincipal('pods.eks.amazonaws.com')),
      });
      this.agentQueue.queue.grantConsumeMessages(role);
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [bucket.arnForObjects('bundles/*')],
        }),
      );
      acceptFinding(
        role,
        `IAM5[Resource::arn:<AWS::Partition>:s3:::${bucket.bucketName}/bundles/*]`,
        'Bundles are content-addressed (bundles/<sha256>.json); the agent reads only that prefix',
      );
      reportBus.grantPutEventsTo(role);
      role.addToPolicy(readSecrets);
      acceptFinding(role, `IAM5[Resource::${secretArnPattern(config)}]`, secretsReason);
      new CfnOutput(this, 'AgentRoleArn', {
        value: role.roleArn,
        description: 'Associate with the sluice agent service account (EKS Pod Identity)',
      });
      new CfnOutput(this, 'AgentSettings', {
        value: JSON.stringify({
          [SLUICE_ENV.bucket]: bucket.bucketName,
          [SLUICE_ENV.bucketRegion]: management.region,
          [SLUICE_ENV.busName]: sameEnv ? managementBus.eventBusArn : 'default',
        }),
        description: 'Environment for `sluice agent`',
      });
      this.agent = role;
    }

    new CfnOutput(this, 'AgentQueueUrl', { value: this.agentQueue.queue.queueUrl });
    new CfnOutput(this, 'AgentDlqUrl', { value: this.agentQueue.deadLetterQueue.queueUrl });
  }
}

/** The secrets ARN pattern as cdk-nag prints it in a finding id. */
const secretArnPattern = (c: RegionalConfig): string =>
  `arn:<AWS::Partition>:secretsmanager:${c.region}:${c.account}:secret:${c.secretPrefix}*`;
