import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KubectlV34Layer } from '@aws-cdk/lambda-layer-kubectl-v34';
import { Aws, CfnOutput, Duration, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { bundleBucketName } from '../../shared/adapters/aws/bundle-copying-dispatcher.ts';
import { type AgentQueueUrls, SLUICE_ENV } from '../../shared/config/env.ts';
import { PROVIDER_NAMES } from '../../shared/core/webhooks/index.ts';
import {
  agentQueueName,
  RECORD_BATCH,
  ROLLBACK_ROUTE,
  ROLLOUT_EVENTS,
  ROUTES,
  type Route,
} from '../../shared/routing.ts';
import { EVENT_SOURCE } from '../../shared/schemas/events.ts';
import { deployRepos, type ManagementConfig, type RegionalConfig, trustPolicyEnv } from '../config.ts';
import { Alerts, pipelineMetric } from '../constructs/alerting.ts';
import { ConsumerQueue, deadLetterQueue } from '../constructs/consumer-queue.ts';
import {
  BUNDLE_SIGNING_ALIAS,
  type BucketAccess,
  REPO_ROOT,
  SluiceFunction,
} from '../constructs/sluice-function.ts';
import { acceptFinding } from '../nag.ts';

export const BUS_NAME = 'sluice';
/**
 * EventBridge gives an SQS FIFO target a static MessageGroupId only (no JSON path). Ingest therefore
 * sends webhook pushes to the plan queue itself, grouped per repo+branch (`planGroupId`); the bus
 * rule only carries Commit Pushed from other producers (reconciliation), in this one group.
 * See docs/deploy.md.
 */
export const PLAN_GROUP_ID = 'sluice-plan';
export const ROLLBACK_QUEUE = ROLLBACK_ROUTE.queue;
/** The rollout function's queue: delayed wake-ups and Rollout Approved (docs/progressive-delivery.md). */
export const ROLLOUT_QUEUE = 'sluice-rollout';
/** Events that regional agents send back to the management bus. */
export const AGENT_DETAIL_TYPES = [
  'Deployment Succeeded',
  'Deployment Failed',
  'Deployment Skipped',
  'Deployment Removed',
  'Drift Detected',
] as const;

/** Bucket names are fixed per account/region, so dispatch can address every regional copy. */
export { bundleBucketName };

/**
 * A regional agent queue on AWS is FIFO: dispatch groups messages by target+app, so the Lambda
 * agent works on one delivery per (target, app) at a time, as the in-process agent does.
 */
export const agentFifoQueueName = agentQueueName;

export const agentQueueUrl = (r: Pick<RegionalConfig, 'account' | 'region'>): string =>
  `https://sqs.${r.region}.amazonaws.com/${r.account}/${agentFifoQueueName(r.region)}`;

export const agentQueueArn = (r: Pick<RegionalConfig, 'account' | 'region'>): string =>
  `arn:${Aws.PARTITION}:sqs:${r.region}:${r.account}:${agentFifoQueueName(r.region)}`;

/** The alarm state changes every regional stack forwards to the management bus. */
export const ALARM_STATE_CHANGE = {
  source: 'aws.cloudwatch',
  detailType: 'CloudWatch Alarm State Change',
} as const;

/** Sluice's own alarms are named `sluice-*`: they notify people; every other alarm may roll back. */
export const SLUICE_ALARM_PREFIX = 'sluice-';

/** Which function each route feeds, with its bucket access, size and batch. */
interface ConsumerSpec {
  readonly bucket: BucketAccess;
  readonly timeout: Duration;
  readonly memorySize?: number;
  readonly batchSize: number;
  readonly git?: boolean;
  /** Reads the Git secret without cloning: report posts commit statuses with its token. */
  readonly gitToken?: boolean;
}

const CONSUMERS: Record<Route['fn'], ConsumerSpec> = {
  plan: {
    bucket: { ledger: 'write' },
    timeout: Duration.minutes(2),
    memorySize: 1024,
    batchSize: 10,
    git: true,
  },
  render: {
    bucket: { ledger: 'read', bundles: 'write' },
    timeout: Duration.minutes(5),
    memorySize: 2048,
    batchSize: 1,
    git: true,
  },
  // Reads bundles to copy them into each agent's regional bucket. One message per invocation: a
  // bundle for many targets is split into chunks on this queue, and no invocation takes two.
  dispatch: { bucket: { ledger: 'write', bundles: 'read' }, timeout: Duration.minutes(1), batchSize: 1 },
  report: { bucket: { ledger: 'write' }, timeout: Duration.minutes(1), batchSize: 10, gitToken: true },
};

export interface ManagementStackProps extends StackProps {
  readonly config: ManagementConfig;
  /** The regional agent stacks: where dispatch sends each target's work, who may report back. */
  readonly regions: readonly RegionalConfig[];
}

/**
 * The control plane in the management account: webhook API, the `sluice` bus with one rule per
 * ROUTES entry, a queue + DLQ per consumer, the bundle bucket (which also holds the ledger),
 * secrets, the alarm → rollback rule, schedules, alarms and outputs.
 */
export class ManagementStack extends Stack {
  readonly bus: events.EventBus;
  readonly bucket: s3.Bucket;
  readonly queues: ReadonlyMap<string, ConsumerQueue>;
  readonly functions: ReadonlyMap<string, SluiceFunction>;
  readonly alerts: Alerts;

  constructor(scope: Construct, id: string, props: ManagementStackProps) {
    super(scope, id, props);
    const { config, regions } = props;
    const queues = new Map<string, ConsumerQueue>();
    const functions = new Map<string, SluiceFunction>();
    this.queues = queues;
    this.functions = functions;

    // Signs every bundle handed to an agent (dispatch, rollback); agents verify with its public
    // half, found by alias from their own accounts. Asymmetric keys cannot rotate automatically.
    const signingKey = new kms.Key(this, 'BundleSigningKey', {
      description: 'Sluice: signs the bundles handed to agents (ECDSA P-256)',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      alias: BUNDLE_SIGNING_ALIAS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const agentAccounts = [...new Set(regions.map((r) => r.account))].filter((a) => a !== config.account);
    if (agentAccounts.length > 0) {
      signingKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AgentsReadThePublicKey',
          actions: ['kms:GetPublicKey'],
          principals: agentAccounts.map((account) => new iam.AccountPrincipal(account)),
          resources: ['*'],
        }),
      );
    }

    this.bucket = new s3.Bucket(this, 'Bundles', {
      bucketName: bundleBucketName(config.account, config.region),
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        // Claims are checked for expiry on read too; this only keeps the prefix small.
        { id: 'expire-delivery-claims', prefix: 'idempotency/', expiration: Duration.days(7) },
        { id: 'old-ledger-versions', prefix: 'ledger/', noncurrentVersionExpiration: Duration.days(90) },
      ],
    });
    acceptFinding(
      this.bucket,
      'S1',
      'Writes are few and versioned (every ledger state is kept); enable CloudTrail S3 data events for request-level audit instead of a second log bucket',
    );
    // Agents read bundles from their own region's bucket (dispatch copies them there), never this one.
    const foreignAccounts = [...new Set(regions.map((r) => r.account))].filter((a) => a !== config.account);

    this.bus = new events.EventBus(this, 'Bus', { eventBusName: BUS_NAME });
    if (foreignAccounts.length > 0) {
      this.bus.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'RegionalAgentsReportBack',
          actions: ['events:PutEvents'],
          principals: foreignAccounts.map((a) => new iam.AccountPrincipal(a)),
          resources: [this.bus.eventBusArn],
          conditions: {
            StringEquals: { 'events:source': EVENT_SOURCE },
            'ForAllValues:StringEquals': { 'events:detail-type': [...AGENT_DETAIL_TYPES] },
          },
        }),
      );
      // Their CloudWatch alarms, forwarded from each regional stack's default bus (rollback, alerts).
      this.bus.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'RegionalAlarmsForwarded',
          actions: ['events:PutEvents'],
          principals: foreignAccounts.map((a) => new iam.AccountPrincipal(a)),
          resources: [this.bus.eventBusArn],
          conditions: {
            StringEquals: {
              'events:source': ALARM_STATE_CHANGE.source,
              'events:detail-type': ALARM_STATE_CHANGE.detailType,
            },
          },
        }),
      );
    }
    this.alerts = new Alerts(this, 'Alerts', { subscribers: config.alerts });

    const webhookSecret = new secretsmanager.Secret(this, 'WebhookSecret', {
      description: 'Sluice webhook HMAC secrets by provider: {"github": "...", "github-previous": "..."}',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'github',
        excludePunctuation: true,
        passwordLength: 40,
      },
    });
    const gitSecret = new secretsmanager.Secret(this, 'GitCredentials', {
      description: 'Sluice Git credentials for cloning config repos: {"username": "...", "password": "..."}',
      secretObjectValue: {},
    });

    // Sluice's own commit-signing key (docs/provenance.md): CloudFormation generates the seed, so
    // no key material is in Git or the template; rollback signs its reverts with the Ed25519 key
    // derived from it, and `sluice trust sluice-key --aws` prints the public key to enrol.
    const commitSigningKey = new secretsmanager.Secret(this, 'CommitSigningKey', {
      description: 'Seed of Sluice\'s Ed25519 commit-signing key (rollback reverts): {"seed": "..."}',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'seed',
        excludePunctuation: true,
        passwordLength: 64,
      },
    });
    acceptFinding(
      commitSigningKey,
      'SMG4',
      'A new seed is a new public key that every trust policy naming it must enrol first; rotated by hand as docs/provenance.md describes',
    );

    for (const secret of [webhookSecret, gitSecret]) {
      acceptFinding(
        secret,
        'SMG4',
        'The value is issued by the Git provider (webhook secret, access token); it is rotated there and written here by hand (docs/deploy.md), with the previous webhook secret kept during the switch',
      );
    }

    // Delivery failures of every rule target (EventBridge → SQS) land here.
    const deliveryDlq = deadLetterQueue(this, 'EventDeliveryDlq', 'sluice-event-delivery-dlq');
    /** A sluice-bus rule's queue target: retried for a day, then parked in the delivery DLQ. */
    const queueTarget = (queue: sqs.IQueue, extra: { messageGroupId?: string } = {}) =>
      new targets.SqsQueue(queue, {
        deadLetterQueue: deliveryDlq,
        retryAttempts: 185,
        maxEventAge: Duration.hours(24),
        ...extra,
      });

    const ingest = new SluiceFunction(this, 'Ingest', { name: 'ingest', timeout: Duration.seconds(10) })
      .bindBus(this.bus)
      .bindBundles(this.bucket, { idempotency: 'write' })
      .bindSecret('webhookSecret', webhookSecret)
      .bindRepoWebhookSecrets();
    functions.set('ingest', ingest);
    // Which repos and branches may deploy, and their clone URLs (ingest, plan, reconcile, rollback).
    const repos = JSON.stringify(deployRepos(config));
    ingest.addEnvironment(SLUICE_ENV.repos, repos);

    const kubectl = new KubectlV34Layer(this, 'KubectlLayer');
    const agentQueues: AgentQueueUrls = {
      targets: Object.fromEntries(regions.flatMap((r) => r.targets.map((t) => [t, agentQueueUrl(r)]))),
      regions: Object.fromEntries(
        regions
          .filter((r) => regions.filter((o) => o.region === r.region).length === 1)
          .map((r) => [r.region, agentQueueUrl(r)]),
      ),
    };

    for (const route of ROUTES) {
      const spec = CONSUMERS[route.fn];
      const consumer = new ConsumerQueue(this, `${capitalise(route.fn)}Queue`, {
        queueName: route.queue,
        visibilityTimeout: Duration.seconds(spec.timeout.toSeconds() * 6),
        ...(route.fn === 'plan' && config.coalesceSeconds > 0
          ? { deliveryDelay: Duration.seconds(config.coalesceSeconds) }
          : {}),
      });
      queues.set(route.fn, consumer);
      new events.Rule(this, `${capitalise(route.fn)}Rule`, {
        eventBus: this.bus,
        description: `${route.detailTypes.join(', ')} → ${route.queue}`,
        eventPattern: {
          source: [EVENT_SOURCE],
          detailType: [...route.detailTypes],
          // Webhook pushes reach the plan queue from ingest directly (grouped per repo+branch).
          ...(route.fn === 'plan' ? { detail: { provider: [{ 'anything-but': [...PROVIDER_NAMES] }] } } : {}),
        },
        targets: [queueTarget(consumer.queue, route.fifo ? { messageGroupId: PLAN_GROUP_ID } : {})],
      });
      const fn = new SluiceFunction(this, capitalise(route.fn), {
        name: route.fn,
        timeout: spec.timeout,
        ...(spec.memorySize ? { memorySize: spec.memorySize } : {}),
        ...(spec.git ? { ephemeralStorageSize: Size.gibibytes(2) } : {}),
        ...(route.fn === 'render'
          ? {
              // kubectl and helm in the layer are x86-64 builds.
              architecture: lambda.Architecture.X86_64,
              bundleFolders: [{ from: 'shared/k8s-schemas', to: 'k8s-schemas' }],
            }
          : {}),
      })
        .bindBundles(this.bucket, spec.bucket)
        .bindQueue(consumer.queue, { batchSize: spec.batchSize });
      // Report publishes nothing (its entry point builds no bus), so it may not PutEvents.
      if (route.fn !== 'report') fn.bindBus(this.bus);
      if (spec.git || spec.gitToken) fn.bindSecret('gitSecret', gitSecret);
      if (route.fn === 'render') fn.bindKubectl(kubectl);
      if (route.fn === 'plan') {
        fn.addEnvironment(SLUICE_ENV.repos, repos);
        if (config.trust) fn.addEnvironment(SLUICE_ENV.trust, trustPolicyEnv(config.trust));
      }
      if (route.fn === 'dispatch') {
        // Its own queue too: the chunks of a bundle for many targets (shared/core/dispatch.ts).
        fn.addEnvironment(SLUICE_ENV.dispatchQueueUrl, consumer.queue.queueUrl);
        consumer.queue.grantSendMessages(fn);
        fn.bindBundleSigner(signingKey);
        fn.bindAgentQueues(agentQueues, regions.map(agentQueueArn));
        this.grantRegionalBundles(fn, regions);
      }
      // Who owns each target (the account in its agent queue's URL): report refuses the others.
      if (route.fn === 'report') fn.addEnvironment(SLUICE_ENV.agentQueues, JSON.stringify(agentQueues));
      functions.set(route.fn, fn);
    }

    // Every rollback trigger meets on one queue: Rollback Requested and Deployment Failed from the
    // sluice bus, CloudWatch alarms from the default bus (Sluice's own alarms are named sluice-*).
    const rollback = new ConsumerQueue(this, 'RollbackQueue', {
      queueName: ROLLBACK_QUEUE,
      visibilityTimeout: Duration.minutes(12),
    });
    queues.set('rollback', rollback);
    new events.Rule(this, 'RollbackRule', {
      eventBus: this.bus,
      description: `${ROLLBACK_ROUTE.detailTypes.join(', ')} → ${ROLLBACK_QUEUE}`,
      eventPattern: { source: [EVENT_SOURCE], detailType: [...ROLLBACK_ROUTE.detailTypes] },
      targets: [queueTarget(rollback.queue)],
    });
    const alarmPattern: events.EventPattern = {
      source: [ALARM_STATE_CHANGE.source],
      detailType: [ALARM_STATE_CHANGE.detailType],
      detail: {
        state: { value: ['ALARM'] },
        alarmName: [{ 'anything-but': { prefix: SLUICE_ALARM_PREFIX } }],
      },
    };
    new events.Rule(this, 'AlarmRule', {
      description: 'CloudWatch alarms entering ALARM → rollback queue',
      eventPattern: alarmPattern,
      targets: [new targets.SqsQueue(rollback.queue, { deadLetterQueue: deliveryDlq })],
    });
    // Alarms of other accounts and regions arrive on the sluice bus, forwarded by regional stacks.
    new events.Rule(this, 'ForwardedAlarmRule', {
      eventBus: this.bus,
      description: 'CloudWatch alarms of target accounts/regions entering ALARM → rollback queue',
      eventPattern: alarmPattern,
      targets: [new targets.SqsQueue(rollback.queue, { deadLetterQueue: deliveryDlq })],
    });
    // Their own sluice-* alarms notify people through this stack's topic (one set of subscribers).
    new events.Rule(this, 'ForwardedSluiceAlarmRule', {
      eventBus: this.bus,
      description: 'sluice-* alarms of regional stacks → the alerts topic',
      eventPattern: {
        source: [ALARM_STATE_CHANGE.source],
        detailType: [ALARM_STATE_CHANGE.detailType],
        detail: { alarmName: [{ prefix: SLUICE_ALARM_PREFIX }], state: { value: ['ALARM', 'OK'] } },
      },
      targets: [
        new targets.SnsTopic(this.alerts.topic, {
          deadLetterQueue: deliveryDlq,
          message: events.RuleTargetInput.fromText(
            `${events.EventField.fromPath('$.detail.alarmName')} is ${events.EventField.fromPath('$.detail.state.value')} in ${events.EventField.account}/${events.EventField.region}: ${events.EventField.fromPath('$.detail.state.reason')}`,
          ),
        }),
      ],
    });
    if (existsSync(join(REPO_ROOT, 'functions', 'rollback', 'index.ts'))) {
      // Reads sluice.yaml and pushes the revert (Git secret), re-dispatches known-good bundles.
      const fn = new SluiceFunction(this, 'Rollback', {
        name: 'rollback',
        timeout: Duration.minutes(2),
        memorySize: 1024,
        ephemeralStorageSize: Size.gibibytes(2),
      })
        .bindBus(this.bus)
        .bindBundles(this.bucket, { ledger: 'write', bundles: 'read', idempotency: 'write' })
        .bindSecret('gitSecret', gitSecret)
        .bindSecret('commitSigningKey', commitSigningKey)
        .bindAgentQueues(agentQueues, regions.map(agentQueueArn))
        .bindBundleSigner(signingKey)
        .bindQueue(rollback.queue, { batchSize: 1 });
      this.grantRegionalBundles(fn, regions);
      // Where rollback clones each config repo (a setting only: Git access is the Git secret).
      fn.addEnvironment(SLUICE_ENV.repoUrls, JSON.stringify(config.repoUrls));
      fn.addEnvironment(SLUICE_ENV.repos, repos);
      functions.set('rollback', fn);
    }

    // Progressive delivery (docs/progressive-delivery.md): dispatch holds the apply requests of an
    // app with `rollout` waves in the ledger; the rollout function sends each wave when its gates
    // allow. It is woken by delayed messages on its own queue (dispatch, report and itself send
    // them: a held wave, an outcome, a bake's end) and by `sluice approve`'s Rollout Approved.
    const rolloutQueue = new ConsumerQueue(this, 'RolloutQueue', {
      queueName: ROLLOUT_QUEUE,
      visibilityTimeout: Duration.minutes(6),
    });
    queues.set('rollout', rolloutQueue);
    new events.Rule(this, 'RolloutRule', {
      eventBus: this.bus,
      description: `${ROLLOUT_EVENTS.join(', ')} → ${ROLLOUT_QUEUE}`,
      eventPattern: { source: [EVENT_SOURCE], detailType: [...ROLLOUT_EVENTS] },
      targets: [queueTarget(rolloutQueue.queue)],
    });
    const rolloutFn = new SluiceFunction(this, 'Rollout', { name: 'rollout', timeout: Duration.minutes(1) })
      .bindBus(this.bus)
      // Writes the rollout record; reads bundles to copy them into each agent's regional bucket.
      .bindBundles(this.bucket, { ledger: 'write', bundles: 'read' })
      // Commit statuses of waves waiting for approval, as report posts them (with the Git token).
      .bindSecret('gitSecret', gitSecret)
      .bindAgentQueues(agentQueues, regions.map(agentQueueArn))
      .bindBundleSigner(signingKey)
      .bindRolloutTimer(rolloutQueue.queue)
      .bindQueue(rolloutQueue.queue, { batchSize: 10 });
    this.grantRegionalBundles(rolloutFn, regions);
    functions.set('rollout', rolloutFn);
    functions.get('dispatch')!.bindRolloutTimer(rolloutQueue.queue);
    functions.get('report')!.bindRolloutTimer(rolloutQueue.queue);

    // The record of every event (docs/operate.md): every `sluice` event but the schedules'
    // traceless requests, kept as one object per event under history/ in the bucket.
    const record = new ConsumerQueue(this, 'RecordQueue', {
      queueName: 'sluice-record',
      visibilityTimeout: Duration.minutes(3),
    });
    queues.set('record', record);
    new events.Rule(this, 'RecordRule', {
      eventBus: this.bus,
      description: `every ${EVENT_SOURCE} event → sluice-record`,
      eventPattern: {
        source: [EVENT_SOURCE],
        detailType: events.Match.anythingBut('Reconcile Requested', 'Drift Check Requested'),
      },
      targets: [queueTarget(record.queue)],
    });
    functions.set(
      'record',
      new SluiceFunction(this, 'Record', { name: 'record', timeout: Duration.seconds(30) })
        // The composition root takes a bus for every stage; record publishes nothing.
        .bindBus(this.bus)
        .bindBundles(this.bucket, { history: 'write' })
        // A release's events in one or two batches: a few S3 writes, not one per event and target.
        .bindQueue(record.queue, {
          batchSize: RECORD_BATCH.size,
          maxBatchingWindow: Duration.seconds(RECORD_BATCH.windowSeconds),
        }),
    );

    // Recovery: the schedule's Reconcile Requested (and ingest's, delayed, for a throttled push)
    // → ls-remote of each tracked branch → Commit Pushed for what no webhook brought.
    const reconcile = new ConsumerQueue(this, 'ReconcileQueue', {
      queueName: 'sluice-reconcile',
      visibilityTimeout: Duration.minutes(12),
    });
    queues.set('reconcile', reconcile);
    new events.Rule(this, 'ReconcileRule', {
      eventBus: this.bus,
      description: 'Reconcile Requested → sluice-reconcile',
      eventPattern: { source: [EVENT_SOURCE], detailType: ['Reconcile Requested'] },
      targets: [queueTarget(reconcile.queue)],
    });
    const reconcileFn = new SluiceFunction(this, 'Reconcile', {
      name: 'reconcile',
      timeout: Duration.minutes(2),
      memorySize: 1024,
      ephemeralStorageSize: Size.gibibytes(2),
    })
      .bindBus(this.bus)
      .bindBundles(this.bucket, { ledger: 'read', history: 'read' })
      .bindSecret('gitSecret', gitSecret)
      .bindQueue(reconcile.queue, { batchSize: 1 });
    // The repos it polls, and where it clones them from (a setting only: Git access is the Git secret).
    reconcileFn.addEnvironment(SLUICE_ENV.repoUrls, JSON.stringify(config.repoUrls));
    reconcileFn.addEnvironment(SLUICE_ENV.repos, repos);
    functions.set('reconcile', reconcileFn);
    ingest.addEnvironment(SLUICE_ENV.reconcileQueueUrl, reconcile.queue.queueUrl);
    reconcile.queue.grantSendMessages(ingest);

    // No drift schedule on this bus: nothing here consumes it (each Lambda region's own schedule
    // sends Drift Check Requested to its agent queue; `sluice agent` checks on --drift-interval).
    const schedules = [
      { id: 'ReconcileSchedule', detailType: 'Reconcile Requested', minutes: config.reconcileMinutes },
    ];
    for (const s of schedules) {
      new scheduler.Schedule(this, s.id, {
        description: `${s.detailType} on the ${BUS_NAME} bus every ${s.minutes} min`,
        schedule: scheduler.ScheduleExpression.rate(Duration.minutes(s.minutes)),
        target: new schedulerTargets.EventBridgePutEvents(
          {
            eventBus: this.bus,
            source: EVENT_SOURCE,
            detailType: s.detailType,
            detail: scheduler.ScheduleTargetInput.fromObject({ schemaVersion: 1, requestedBy: 'schedule' }),
          },
          { deadLetterQueue: deliveryDlq, retryAttempts: 3 },
        ),
      });
    }

    ingest.bindPlanIntake(queues.get('plan')!.queue);

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const api = new apigw.HttpApi(this, 'WebhookApi', {
      description: 'Sluice webhooks: POST /webhooks/{provider}',
      createDefaultStage: false,
    });
    const stage = new apigw.HttpStage(this, 'WebhookStage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(accessLogs) },
    });
    const [route] = api.addRoutes({
      path: '/webhooks/{provider}',
      methods: [apigw.HttpMethod.POST],
      integration: new HttpLambdaIntegration('Ingest', ingest),
    });
    acceptFinding(
      route!,
      'APIG4',
      'Git providers cannot sign requests with IAM or OAuth; ingest verifies the HMAC signature over the raw body and answers 401 otherwise',
    );

    this.alarmAndDashboard(config, api, stage, deliveryDlq);

    const out = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    out('WebhookUrl', `${stage.url}webhooks/github`, 'Register this URL as the config repo webhook');
    out('BusArn', this.bus.eventBusArn, 'The sluice event bus');
    out('BusName', this.bus.eventBusName, 'The sluice event bus (sluice rollback --aws puts events here)');
    out(
      'BundleBucket',
      this.bucket.bucketName,
      'Bundles (bundles/), ledger (ledger/), claims (idempotency/), the record of every event (history/)',
    );
    out('WebhookSecretArn', webhookSecret.secretArn, 'Webhook HMAC secret: key "github"');
    out('GitSecretArn', gitSecret.secretArn, 'Git credentials: keys "username" and "password"');
    out(
      'CommitSigningKeySecretArn',
      commitSigningKey.secretArn,
      "Seed of Sluice's commit-signing key: `sluice trust sluice-key --aws` prints its public key",
    );
    for (const [name, q] of queues) {
      out(`${capitalise(name)}QueueUrl`, q.queue.queueUrl, `${name} queue`);
      out(`${capitalise(name)}DlqUrl`, q.deadLetterQueue.queueUrl, `${name} dead-letter queue`);
    }
    out('EventDeliveryDlqUrl', deliveryDlq.queueUrl, 'EventBridge delivery failures');
    out('AlertsTopicArn', this.alerts.topic.topicArn, 'Every alarm of every Sluice stack; subscribe here');
  }

  /**
   * Dispatch and rollback copy each bundle (read here: bindBundles) into the agent's own region's
   * bucket before handing it over, so a region deploys and rolls back without this bucket.
   */
  private grantRegionalBundles(fn: SluiceFunction, regions: readonly RegionalConfig[]): void {
    const buckets = [...new Set(regions.map((r) => bundleBucketName(r.account, r.region)))].filter(
      (name) => name !== this.bucket.bucketName,
    );
    if (buckets.length === 0) return;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject'],
        resources: buckets.map((b) => `arn:${Aws.PARTITION}:s3:::${b}/bundles/*`),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: buckets.map((b) => `arn:${Aws.PARTITION}:s3:::${b}`),
      }),
    );
    for (const b of buckets) {
      acceptFinding(
        fn,
        `IAM5[Resource::arn:<AWS::Partition>:s3:::${b}/bundles/*]`,
        'Bundles are content-addressed (bundles/<sha256>.json); dispatch copies them into each regional bucket under that prefix only',
      );
    }
  }

  /**
   * The alarms that earn their $0.10 per metric (docs/cost.md), each notifying the alerts topic,
   * and the dashboard: queues, functions, the API and deployments.
   */
  private alarmAndDashboard(
    config: ManagementConfig,
    api: apigw.HttpApi,
    stage: apigw.HttpStage,
    deliveryDlq: sqs.IQueue,
  ): void {
    const consumers = [...this.queues.entries()];
    const dlqs = [...consumers.map(([, q]) => q.deadLetterQueue), deliveryDlq];
    const name = (what: string) => `${SLUICE_ALARM_PREFIX}${what}-${config.stackName}`;
    this.alerts.parked(this, (q) => name(`${q}-dlq-parked`), {
      ...Object.fromEntries(consumers.map(([n, q]) => [n, q.deadLetterQueue])),
      'event-delivery': deliveryDlq,
    });
    this.alerts.stuck(
      this,
      (q) => name(`${q}-queue-age`),
      Object.fromEntries(consumers.filter(([n]) => n !== 'rollout').map(([n, q]) => [n, q.queue])),
    );
    // A rollout wake-up is delayed by design (up to SQS's 15 minutes per hop): twice that is stuck.
    const rollout = this.queues.get('rollout');
    if (rollout) {
      this.alerts.stuck(
        this,
        (q) => name(`${q}-queue-age`),
        { rollout: rollout.queue },
        Duration.minutes(30),
      );
    }
    const ingest = this.functions.get('ingest')!;
    // Queue-fed functions retry a throttle from their queue (queue-age sees it); a throttled
    // ingest refuses a webhook.
    this.alerts.alarm(this, 'IngestThrottlesAlarm', {
      alarmName: name('ingest-throttles'),
      alarmDescription:
        'The ingest function was throttled: webhooks were refused (reconciliation will catch up)',
      metric: ingest.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const api5xx = new cloudwatch.Metric({
      namespace: 'AWS/ApiGateway',
      metricName: '5xx',
      dimensionsMap: { ApiId: api.apiId, Stage: stage.stageName },
      statistic: 'Sum',
      period: Duration.minutes(5),
    });
    this.alerts.alarm(this, 'Api5xxAlarm', {
      alarmName: name('api-5xx'),
      alarmDescription: 'The webhook API answered 5xx: ingest failed or timed out on a push',
      metric: api5xx,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alerts.alarm(this, 'DeploymentsFailedAlarm', {
      alarmName: name('deployments-failed'),
      alarmDescription: 'An agent reported Deployment Failed (rollback runs on its own; see sluice status)',
      metric: pipelineMetric('deploymentsFailed'),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const fns = [...this.functions.values()];
    const perFn = (metric: (fn: SluiceFunction) => cloudwatch.IMetric) => fns.map(metric);
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: config.stackName,
      defaultInterval: Duration.days(1),
    });
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alerts.alarms, width: 24, height: 3 }),
      new cloudwatch.GraphWidget({
        title: 'Deployments',
        left: [
          pipelineMetric('releasesPlanned', { label: 'releases planned' }),
          pipelineMetric('deploymentsSucceeded', { label: 'succeeded' }),
          pipelineMetric('deploymentsFailed', { label: 'failed' }),
          pipelineMetric('rendersFailed', { label: 'renders failed' }),
          pipelineMetric('policyRejections', { label: 'policy rejections' }),
        ],
        right: [pipelineMetric('renderDuration', { statistic: 'p90', label: 'render p90 (ms)' })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Webhook API',
        left: ['Count', '4xx', '5xx'].map(
          (metricName) =>
            new cloudwatch.Metric({
              namespace: 'AWS/ApiGateway',
              metricName,
              dimensionsMap: { ApiId: api.apiId, Stage: stage.stageName },
              statistic: 'Sum',
              period: Duration.minutes(5),
            }),
        ),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Queues: oldest message (s)',
        left: consumers.map(([n, q]) =>
          q.queue.metricApproximateAgeOfOldestMessage({ label: n, statistic: 'Maximum' }),
        ),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead-letter queues: parked messages',
        left: [...consumers.map(([n]) => n), 'event-delivery'].map((label, i) =>
          dlqs[i]!.metricApproximateNumberOfMessagesVisible({ label, statistic: 'Maximum' }),
        ),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Functions: errors and throttles',
        left: perFn((fn) => fn.metricErrors({ label: `${fn.functionLabel} errors` })),
        right: perFn((fn) => fn.metricThrottles({ label: `${fn.functionLabel} throttles` })),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Functions: duration p90 (ms)',
        left: perFn((fn) => fn.metricDuration({ label: fn.functionLabel, statistic: 'p90' })),
        width: 12,
      }),
    );
    new CfnOutput(this, 'DashboardName', { value: config.stackName, description: 'CloudWatch dashboard' });
  }
}

const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
