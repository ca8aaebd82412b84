import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, type Size, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type AgentQueueUrls, SLUICE_ENV } from '../../shared/config/env.ts';
import { WEBHOOK_SECRET_PREFIX } from '../../shared/core/webhook-registration.ts';
import { PLAN_QUEUE_URL_ENV } from '../../shared/routing.ts';
import { acceptFinding } from '../nag.ts';

/** How cdk-nag prints a stack's region or account in a finding id: the value, or `<AWS::…>` for a token. */
const nagName = (value: string, pseudo: string): string =>
  Token.isUnresolved(value) ? `<${pseudo}>` : value;

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The alias of the management stack's bundle-signing KMS key, by which agents find it. */
export const BUNDLE_SIGNING_ALIAS = 'alias/sluice-bundle-signing';

/** `-c sluice:bundle=false` synthesises without esbuild (assertion tests); `cdk synth` bundles. */
export const BUNDLE_CONTEXT = 'sluice:bundle';

/**
 * ESM bundles of CommonJS dependencies still call `require` for Node built-ins; give them one.
 * (Same shim as the aws-lambda-nodejs docs suggest for `format: ESM`.)
 */
const REQUIRE_SHIM = "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);";

export interface SluiceFunctionProps {
  /** The folder under `functions/` whose `index.ts` exports `handler`. */
  readonly name: string;
  readonly description?: string;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** /tmp size, for functions that cache git checkouts. @default 512 MiB */
  readonly ephemeralStorageSize?: Size;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The render function runs the kubectl/helm layer, whose binaries are x86-64 only.
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;
  /** Repo folders copied next to the bundle (e.g. the vendored Kubernetes schemas). @default none */
  readonly bundleFolders?: readonly { readonly from: string; readonly to: string }[];
}

/** Which parts of the bundle bucket a function touches, and how. */
export interface BucketAccess {
  /** Content-addressed bundles under `bundles/`. */
  readonly bundles?: 'read' | 'write';
  /** The ledger (branch states, deployment records) under `ledger/`. */
  readonly ledger?: 'read' | 'write';
  /** Webhook delivery claims under `idempotency/`; claims are deleted when released. */
  readonly idempotency?: 'write';
  /** The record of every event under `history/` (docs/operate.md). */
  readonly history?: 'read' | 'write';
}

/**
 * Every Sluice Lambda: Node.js 22 on ARM64, one minified ESM bundle per function built by local
 * esbuild (no Docker) with source maps, X-Ray tracing, JSON logs kept for a month. The `bindX()`
 * methods set a setting and grant the IAM it needs in one call, so the two never drift apart.
 */
export class SluiceFunction extends NodejsFunction {
  readonly functionLabel: string;

  constructor(scope: Construct, id: string, props: SluiceFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const bundle = ![false, 'false'].includes(scope.node.tryGetContext(BUNDLE_CONTEXT));
    super(scope, id, {
      description: props.description ?? `Sluice ${props.name}`,
      entry: join(REPO_ROOT, 'functions', props.name, 'index.ts'),
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      ...(props.ephemeralStorageSize ? { ephemeralStorageSize: props.ephemeralStorageSize } : {}),
      tracing: lambda.Tracing.ACTIVE,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: `sluice-${props.name}`,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        platform: 'node',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // Bundle everything, the AWS SDK included: the adapters rely on recent S3 conditional
        // writes, and the runtime's SDK version is not ours to pin.
        externalModules: [],
        banner: REQUIRE_SHIM,
        forceDockerBundling: false,
        ...(props.bundleFolders?.length
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (inputDir: string, outputDir: string) =>
                  (props.bundleFolders ?? []).map(
                    (f) => `cp -R "${inputDir}/${f.from}" "${outputDir}/${f.to}"`,
                  ),
              },
            }
          : {}),
      },
      ...(bundle
        ? {}
        : {
            code: lambda.Code.fromInline(
              'exports.handler = async () => { throw new Error("not bundled"); };',
            ),
            handler: 'index.handler',
          }),
    });
    this.functionLabel = props.name;
    acceptFinding(
      this,
      'L1',
      'Node.js 22 is deliberate: it is the Node the project pins and tests on (package.json engines, devDependency node@22)',
    );
    acceptFinding(
      this,
      'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The AWS managed basic execution role only lets the function write its own CloudWatch logs',
    );
    acceptFinding(
      this,
      'IAM5[Resource::*]',
      'X-Ray tracing: xray:PutTraceSegments/PutTelemetryRecords support no resource-level permissions',
    );
  }

  /** Publishes to `bus` (name in SLUICE_BUS_NAME, or the ARN when the bus is in another account/region). */
  bindBus(bus: events.IEventBus, options: { byArn?: boolean } = {}): this {
    this.addEnvironment(SLUICE_ENV.busName, options.byArn ? bus.eventBusArn : bus.eventBusName);
    bus.grantPutEventsTo(this);
    return this;
  }

  /** Reads/writes the given prefixes of the bundle bucket (SLUICE_BUCKET, SLUICE_BUCKET_REGION). */
  bindBundles(bucket: s3.IBucket, access: BucketAccess, bucketRegion?: string): this {
    this.addEnvironment(SLUICE_ENV.bucket, bucket.bucketName);
    this.addEnvironment(SLUICE_ENV.bucketRegion, bucketRegion ?? bucket.stack.region);
    const prefixes = {
      bundles: 'bundles/',
      ledger: 'ledger/',
      idempotency: 'idempotency/',
      history: 'history/',
    } as const;
    // Listing lets a read of an absent key answer 404 (NOT_FOUND) instead of 403.
    this.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
    );
    for (const [part, mode] of Object.entries(access) as [keyof BucketAccess, string][]) {
      const objects = bucket.arnForObjects(`${prefixes[part]}*`);
      const actions = ['s3:GetObject'];
      if (mode === 'write') actions.push('s3:PutObject');
      if (part === 'idempotency') actions.push('s3:DeleteObject');
      this.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [objects] }));
      acceptFinding(
        this,
        `IAM5[Resource::${resolvedArn(this, objects)}]`,
        `Objects are content-addressed or keyed per record at run time; access stays within the ${prefixes[part]} prefix`,
      );
    }
    return this;
  }

  /** Reads one secret (its ARN in the setting named `setting`); no other secret is readable. */
  bindSecret(
    setting: 'webhookSecret' | 'gitSecret' | 'commitSigningKey',
    secret: secretsmanager.ISecret,
  ): this {
    this.addEnvironment(SLUICE_ENV[setting], secret.secretArn);
    secret.grantRead(this);
    return this;
  }

  /**
   * Reads each repo's own webhook secret, `sluice/webhooks/<provider>/<repo>` in this account and
   * region (`sluice webhook register --secret-ref aws-sm://…` writes them), beside the shared one.
   */
  bindRepoWebhookSecrets(): this {
    const stack = Stack.of(this);
    const arn = `arn:${stack.partition}:secretsmanager:${stack.region}:${stack.account}:secret:${WEBHOOK_SECRET_PREFIX}*`;
    this.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [arn] }),
    );
    acceptFinding(
      this,
      `IAM5[Resource::arn:<AWS::Partition>:secretsmanager:${nagName(stack.region, 'AWS::Region')}:${nagName(stack.account, 'AWS::AccountId')}:secret:${WEBHOOK_SECRET_PREFIX}*]`,
      'One webhook secret per registered repo, named by provider and repo at registration time; ingest may read only names under that prefix',
    );
    return this;
  }

  /**
   * Signs bundles with the management stack's KMS key (dispatch, rollback): SLUICE_SIGNING_KEY and
   * kms:Sign + kms:GetPublicKey on that key only.
   */
  bindBundleSigner(key: kms.IKey): this {
    this.addEnvironment(SLUICE_ENV.signingKey, key.keyArn);
    key.grant(this, 'kms:Sign', 'kms:GetPublicKey');
    return this;
  }

  /**
   * Verifies bundles against the signing key's public half (agents): SLUICE_SIGNING_KEY is the
   * key's alias ARN in the management account/region, readable across accounts, and the only
   * grant is kms:GetPublicKey on keys of that account/region carrying that alias.
   */
  bindBundleVerifier(management: { account: string; region: string }, alias: string): this {
    this.addEnvironment(SLUICE_ENV.signingKey, grantBundleVerify(this, management, alias));
    return this;
  }

  /**
   * Schedules rollout wake-ups (docs/progressive-delivery.md) as delayed messages on `queue`
   * (SLUICE_ROLLOUT_QUEUE_URL, with the send grant): dispatch, report and the rollout function.
   */
  bindRolloutTimer(queue: sqs.IQueue): this {
    this.addEnvironment(SLUICE_ENV.rolloutQueueUrl, queue.queueUrl);
    queue.grantSendMessages(this);
    return this;
  }

  /**
   * Consumes `queue` with partial batch responses: only the failed messages are retried. A
   * message that can never succeed is sent to the queue's dead-letter queue at once
   * (SLUICE_DEAD_LETTER_QUEUE_URL, with the send grant), the same rule as in every other host.
   */
  bindQueue(queue: sqs.IQueue, options: { batchSize?: number; maxBatchingWindow?: Duration } = {}): this {
    const deadLetter = (queue as Partial<sqs.Queue>).deadLetterQueue?.queue;
    if (deadLetter === undefined) {
      throw new Error(
        `bindQueue: queue ${queue.node.path} has no dead-letter queue; give it one (ConsumerQueue does), so poison can be parked`,
      );
    }
    this.addEnvironment(SLUICE_ENV.deadLetterQueueUrl, deadLetter.queueUrl);
    deadLetter.grantSendMessages(this);
    this.addEventSource(
      new SqsEventSource(queue, {
        reportBatchItemFailures: true,
        batchSize: options.batchSize ?? 10,
        ...(options.maxBatchingWindow ? { maxBatchingWindow: options.maxBatchingWindow } : {}),
      }),
    );
    return this;
  }

  /**
   * Sends Commit Pushed straight to the plan FIFO queue (its URL in SLUICE_PLAN_QUEUE_URL), one
   * message group per repo+branch: an EventBridge target could only give it one static group.
   */
  bindPlanIntake(queue: sqs.IQueue): this {
    this.addEnvironment(PLAN_QUEUE_URL_ENV, queue.queueUrl);
    queue.grantSendMessages(this);
    return this;
  }

  /** Sends Apply Requested to each region's agent queue (possibly in other accounts). */
  bindAgentQueues(urls: AgentQueueUrls, queueArns: readonly string[]): this {
    this.addEnvironment(SLUICE_ENV.agentQueues, JSON.stringify(urls));
    if (queueArns.length > 0) {
      this.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [...new Set(queueArns)] }),
      );
    }
    return this;
  }

  /** kubectl (with kustomize) and helm from the KubectlV34 layer, at /opt/kubectl and /opt/helm. */
  bindKubectl(layer: lambda.ILayerVersion): this {
    this.addLayers(layer);
    this.addEnvironment(SLUICE_ENV.kubectl, '/opt/kubectl/kubectl');
    this.addEnvironment(SLUICE_ENV.helm, '/opt/helm/helm');
    return this;
  }

  /** Alarms when the function reports any error in `period`; named `sluice-…` so rollback ignores it. */
  alarmOnErrors(period: Duration = Duration.minutes(5)): cloudwatch.Alarm {
    return this.metricErrors({ period }).createAlarm(this, 'ErrorsAlarm', {
      alarmName: `sluice-${this.functionLabel}-errors-${this.stack.stackName}`,
      alarmDescription: `Sluice ${this.functionLabel} function reported errors`,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}

/** An ARN as cdk-nag prints it in a finding id: `<LogicalId.Arn>` for tokens, pseudo parameters in brackets. */
const resolvedArn = (scope: Construct, arn: string): string => {
  if (!Token.isUnresolved(arn)) return arn;
  const resolved = Stack.of(scope).resolve(arn) as unknown;
  const parts = (resolved as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1] ?? [resolved];
  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const ref = (part as { Ref?: string }).Ref;
      if (ref !== undefined) return `<${ref}>`;
      const att = (part as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
      return att ? `<${att[0]}.${att[1]}>` : JSON.stringify(part);
    })
    .join('');
};

/**
 * Lets an agent (the Lambda's role, or `sluice agent`'s) read the bundle-signing key's public half:
 * kms:GetPublicKey on keys of the management account/region carrying `alias`, nothing else.
 * Returns the alias ARN the agent is given as SLUICE_SIGNING_KEY.
 */
export const grantBundleVerify = (
  grantee: iam.IGrantable & Construct,
  management: { account: string; region: string },
  alias: string,
): string => {
  const stack = Stack.of(grantee);
  const aliasName = alias.startsWith('alias/') ? alias : `alias/${alias}`;
  iam.Grant.addToPrincipal({
    grantee,
    actions: ['kms:GetPublicKey'],
    resourceArns: [`arn:${stack.partition}:kms:${management.region}:${management.account}:key/*`],
    conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': aliasName } },
  });
  acceptFinding(
    grantee,
    `IAM5[Resource::arn:<AWS::Partition>:kms:${management.region}:${management.account}:key/*]`,
    'The signing key is created by the management stack and known here only by its alias; the grant is limited to keys carrying that alias, and only to read the public key',
  );
  return `arn:${stack.partition}:kms:${management.region}:${management.account}:${aliasName}`;
};
