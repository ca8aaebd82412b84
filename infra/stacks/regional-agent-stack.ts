import { Arn, ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as rolesanywhere from 'aws-cdk-lib/aws-rolesanywhere';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { SLUICE_ENV } from '../../shared/config/env.ts';
import { healthQueueName } from '../../shared/routing.ts';
import { EVENT_SOURCE } from '../../shared/schemas/events.ts';
import type { ManagementConfig, RegionalConfig } from '../config.ts';
import { ALERTS_TOPIC, Alerts } from '../constructs/alerting.ts';
import { ConsumerQueue, deadLetterQueue } from '../constructs/consumer-queue.ts';
import { BUNDLE_SIGNING_ALIAS, grantBundleVerify, SluiceFunction } from '../constructs/sluice-function.ts';
import { acceptFinding } from '../nag.ts';
import {
  AGENT_DETAIL_TYPES,
  ALARM_STATE_CHANGE,
  agentFifoQueueName,
  BUS_NAME,
  bundleBucketName,
  SLUICE_ALARM_PREFIX,
} from './management-stack.ts';

export interface RegionalAgentStackProps extends StackProps {
  readonly config: RegionalConfig;
  readonly management: ManagementConfig;
}

const AGENT_TIMEOUT = Duration.minutes(5);
/** The message group of scheduled drift checks on the FIFO agent queue. */
export const DRIFT_CHECK_GROUP = 'drift-check';

/**
 * One per target account/region: the FIFO agent queue (+ DLQ) the management account sends Apply
 * Requested to (one message group per target+app), this region's bundle bucket (dispatch copies
 * each bundle here), and the agent — a Lambda, or an IAM role for `sluice agent` (EKS Pod Identity,
 * IAM Roles Anywhere or a named principal) — with a path back to the management bus for its
 * outcomes and for every CloudWatch alarm of this account/region.
 */
export class RegionalAgentStack extends Stack {
  readonly agentQueue: ConsumerQueue;
  /** A Lambda agent's health re-check queue's DLQ. */
  private healthDlq?: sqs.IQueue;
  readonly agent: SluiceFunction | iam.Role;
  readonly bucket: s3.IBucket;
  readonly alerts: Alerts;

  constructor(scope: Construct, id: string, props: RegionalAgentStackProps) {
    super(scope, id, props);
    const { config, management } = props;
    const sameEnv = config.account === management.account && config.region === management.region;
    const where = `${config.account}-${config.region}`;

    // Alarms notify the management topic: directly when it is here, else through this stack's
    // topic (alarm actions cannot cross regions) and the forwarding rule below.
    this.alerts = new Alerts(
      this,
      'Alerts',
      sameEnv
        ? {
            topic: sns.Topic.fromTopicArn(
              this,
              'ManagementTopic',
              Arn.format({ service: 'sns', resource: ALERTS_TOPIC }, this),
            ),
          }
        : {},
    );

    this.agentQueue = new ConsumerQueue(this, 'AgentQueue', {
      queueName: agentFifoQueueName(config.region),
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
    const forwardDlq = sameEnv
      ? undefined
      : deadLetterQueue(this, 'ForwardDlq', `sluice-forward-dlq-${config.region}`);
    if (forwardDlq) {
      new events.Rule(this, 'ForwardOutcomes', {
        description: `Agent outcomes → the management bus in ${management.account}/${management.region}`,
        eventPattern: { source: [EVENT_SOURCE], detailType: [...AGENT_DETAIL_TYPES] },
        targets: [new targets.EventBus(managementBus, { deadLetterQueue: forwardDlq })],
      });
      // Every alarm here reaches the management bus: an app's alarm rolls it back, a sluice-*
      // alarm notifies the management topic's subscribers.
      new events.Rule(this, 'ForwardAlarms', {
        description: `CloudWatch alarm state changes → the management bus in ${management.account}/${management.region}`,
        eventPattern: {
          source: [ALARM_STATE_CHANGE.source],
          detailType: [ALARM_STATE_CHANGE.detailType],
          detail: { state: { value: ['ALARM', 'OK'] } },
        },
        targets: [new targets.EventBus(managementBus, { deadLetterQueue: forwardDlq })],
      });
    }

    this.bucket = sameEnv
      ? s3.Bucket.fromBucketName(this, 'Bundles', bundleBucketName(management.account, management.region))
      : this.bundleBucket(config, management);

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
        .bindBundles(this.bucket, { bundles: 'read' }, config.region)
        .bindBundleVerifier(management, BUNDLE_SIGNING_ALIAS)
        // One message per invocation: with the FIFO queue's group per target+app, no two
        // deliveries for one (target, app) are ever applied at once.
        .bindQueue(this.agentQueue.queue, { batchSize: 1 });
      // Health re-checks (docs/agent.md#health-re-checks): the agent applies, looks at health once
      // and schedules its next look here as a delayed message, instead of being billed to wait.
      const health = new ConsumerQueue(this, 'HealthQueue', {
        queueName: healthQueueName(config.region),
        visibilityTimeout: Duration.seconds(AGENT_TIMEOUT.toSeconds() * 6),
      });
      health.queue.grantSendMessages(fn);
      health.deadLetterQueue.grantSendMessages(fn);
      fn.addEnvironment(SLUICE_ENV.healthQueueUrl, health.queue.queueUrl);
      fn.addEnvironment(SLUICE_ENV.healthDeadLetterQueueUrl, health.deadLetterQueue.queueUrl);
      fn.addEventSource(new SqsEventSource(health.queue, { reportBatchItemFailures: true, batchSize: 10 }));
      this.healthDlq = health.deadLetterQueue;
      fn.addToRolePolicy(readSecrets);
      acceptFinding(fn, `IAM5[Resource::${secretArnPattern(config)}]`, secretsReason);
      if (config.vpc) this.runInVpc(fn, config.vpc);
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
            messageGroupId: DRIFT_CHECK_GROUP,
            deadLetterQueue: this.agentQueue.deadLetterQueue,
            retryAttempts: 3,
          }),
        });
      }
      this.agent = fn;
    } else {
      const role = new iam.Role(this, 'InClusterAgentRole', {
        description: `sluice agent for ${where}: its queue, its region's bundles, PutEvents to report`,
        assumedBy: agentPrincipal(config),
        maxSessionDuration: Duration.hours(1),
      });
      const identity = config.agentIdentity;
      if (identity && 'rolesAnywhereTrustAnchorArn' in identity) {
        // Roles Anywhere also tags the session and sets its source identity from the certificate.
        role.assumeRolePolicy?.addStatements(
          new iam.PolicyStatement({
            actions: ['sts:TagSession', 'sts:SetSourceIdentity'],
            principals: [new iam.ServicePrincipal('rolesanywhere.amazonaws.com')],
            conditions: rolesAnywhereConditions(identity),
          }),
        );
      }
      this.agentQueue.queue.grantConsumeMessages(role);
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [this.bucket.arnForObjects('bundles/*')],
        }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
      );
      const bundles =
        this.bucket instanceof s3.Bucket
          ? `<${this.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/bundles/*`
          : `arn:<AWS::Partition>:s3:::${this.bucket.bucketName}/bundles/*`;
      acceptFinding(
        role,
        `IAM5[Resource::${bundles}]`,
        'Bundles are content-addressed (bundles/<sha256>.json); the agent reads only that prefix',
      );
      reportBus.grantPutEventsTo(role);
      role.addToPolicy(readSecrets);
      acceptFinding(role, `IAM5[Resource::${secretArnPattern(config)}]`, secretsReason);
      const signingKey = grantBundleVerify(role, management, BUNDLE_SIGNING_ALIAS);
      new CfnOutput(this, 'AgentRoleArn', {
        value: role.roleArn,
        description:
          'The role `sluice agent` assumes (Pod Identity association, Roles Anywhere profile or the named principal)',
      });
      if (identity && 'rolesAnywhereTrustAnchorArn' in identity) {
        const profile = new rolesanywhere.CfnProfile(this, 'AgentProfile', {
          name: `sluice-agent-${where}`,
          roleArns: [role.roleArn],
          durationSeconds: 3600,
          enabled: true,
        });
        new CfnOutput(this, 'AgentProfileArn', {
          value: profile.attrProfileArn,
          description:
            'aws_signing_helper credential-process --profile-arn (with --trust-anchor-arn and --role-arn)',
        });
      }
      new CfnOutput(this, 'AgentSettings', {
        value: JSON.stringify({
          [SLUICE_ENV.bucket]: this.bucket.bucketName,
          [SLUICE_ENV.bucketRegion]: config.region,
          [SLUICE_ENV.busName]: sameEnv ? managementBus.eventBusArn : 'default',
          [SLUICE_ENV.signingKey]: signingKey,
        }),
        description: 'Environment for `sluice agent` (deploy/agent/deployment.yaml)',
      });
      this.agent = role;
    }

    // What a region's alarms earn (docs/cost.md): work waiting too long, and work parked —
    // deliveries the agent gave up on, outcomes or alarms that never reached the management bus.
    const name = (what: string) => `${SLUICE_ALARM_PREFIX}agent-${where}-${what}`;
    this.alerts.stuck(this, () => name('queue-age'), { agent: this.agentQueue.queue });
    this.alerts.parked(this, (q) => name(`${q}-dlq-parked`), {
      agent: this.agentQueue.deadLetterQueue,
      ...(this.healthDlq ? { health: this.healthDlq } : {}),
      ...(forwardDlq ? { forward: forwardDlq } : {}),
    });

    new CfnOutput(this, 'AgentQueueUrl', { value: this.agentQueue.queue.queueUrl });
    new CfnOutput(this, 'AgentDlqUrl', { value: this.agentQueue.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'BundleBucket', {
      value: this.bucket.bucketName,
      description: 'Bundles the agent reads',
    });
  }

  /**
   * This region's bundles: the management account's dispatch and rollback functions copy each
   * bundle here before handing it over, so the agent never reads across regions.
   */
  private bundleBucket(config: RegionalConfig, management: ManagementConfig): s3.Bucket {
    const bucket = new s3.Bucket(this, 'Bundles', {
      bucketName: bundleBucketName(config.account, config.region),
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acceptFinding(
      bucket,
      'S1',
      'Content-addressed copies written only by the management account; enable CloudTrail S3 data events for request-level audit instead of a second log bucket',
    );
    if (management.account !== config.account) {
      bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'ManagementAccountCopiesBundles',
          actions: ['s3:PutObject', 's3:GetObject'],
          principals: [new iam.AccountPrincipal(management.account)],
          resources: [bucket.arnForObjects('bundles/*')],
        }),
      );
      bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'ManagementAccountSeesMissingBundles',
          actions: ['s3:ListBucket'],
          principals: [new iam.AccountPrincipal(management.account)],
          resources: [bucket.bucketArn],
        }),
      );
    }
    return bucket;
  }

  /** Runs the Lambda agent in the given subnets, for EKS clusters with a private endpoint only. */
  private runInVpc(fn: SluiceFunction, vpc: NonNullable<RegionalConfig['vpc']>): void {
    (fn.node.defaultChild as lambda.CfnFunction).vpcConfig = {
      subnetIds: vpc.subnetIds,
      securityGroupIds: vpc.securityGroupIds,
    };
    fn.role!.addManagedPolicy(
      iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
    );
    acceptFinding(
      fn,
      'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
      'The AWS managed VPC execution role only lets Lambda create and delete the network interfaces of the configured subnets',
    );
  }
}

/**
 * Who may assume an in-cluster agent's role: certificates from an IAM Roles Anywhere trust anchor
 * (on-prem), a named IAM principal, or by default EKS Pod Identity.
 */
const agentPrincipal = (config: RegionalConfig): iam.IPrincipal => {
  const identity = config.agentIdentity;
  if (identity && 'rolesAnywhereTrustAnchorArn' in identity) {
    return new iam.PrincipalWithConditions(
      new iam.ServicePrincipal('rolesanywhere.amazonaws.com'),
      rolesAnywhereConditions(identity),
    );
  }
  if (identity && 'principalArn' in identity) return new iam.ArnPrincipal(identity.principalArn);
  // Pod Identity assumes the role with session tags (cluster, namespace, service account).
  return new iam.SessionTagsPrincipal(new iam.ServicePrincipal('pods.eks.amazonaws.com'));
};

/** Only sessions from the configured trust anchor (and certificate CN, when given). */
const rolesAnywhereConditions = (identity: {
  rolesAnywhereTrustAnchorArn: string;
  certificateCommonName?: string | undefined;
}): Record<string, unknown> => ({
  ArnEquals: { 'aws:SourceArn': identity.rolesAnywhereTrustAnchorArn },
  ...(identity.certificateCommonName
    ? { StringEquals: { 'aws:PrincipalTag/x509Subject/CN': identity.certificateCommonName } }
    : {}),
});

/** The secrets ARN pattern as cdk-nag prints it in a finding id. */
const secretArnPattern = (c: RegionalConfig): string =>
  `arn:<AWS::Partition>:secretsmanager:${c.region}:${c.account}:secret:${c.secretPrefix}*`;
