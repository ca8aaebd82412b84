/**
 * Creates (or finds) on an AWS API — the emulator, for `sluice dev --aws` — what the management
 * stack would hold for the pipeline: the bus, one rule and queue + DLQ per route of the
 * composition root, the rollback rules on the default bus, an `events` queue, and the bucket.
 */
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from '../../config/env.ts';
import { PROVIDER_NAMES } from '../../core/webhooks/index.ts';
import { MAX_RECEIVE_COUNT, ROLLOUT_EVENTS } from '../../routing.ts';
import { PIPELINE_ROUTES } from '../../runtime/pipeline.ts';
import { EVENT_SOURCE } from '../../schemas/events.ts';

/** Scheduled requests carry no trace: nothing to keep, so the record rule leaves them out. */
export const UNRECORDED_DETAIL_TYPES = ['Reconcile Requested', 'Drift Check Requested'] as const;

import { clientConfig, s3ClientConfig } from './client-config.ts';

export interface AwsPipelineResources {
  readonly busName: string;
  readonly bucket: string;
  /** Queue URLs by queue name (without the prefix): plan.fifo, render, …, events. */
  readonly queues: Readonly<Record<string, string>>;
  /** Dead-letter queue URLs by the URL of the queue they serve. */
  readonly deadLetterQueues: Readonly<Record<string, string>>;
}

const ignoreExisting = (names: readonly string[]) => (error: unknown) => {
  if (!names.includes((error as { name?: string }).name ?? '')) throw error;
};

/**
 * Creates (or finds) what the management stack would hold for the pipeline: the bus, one rule and
 * queue + DLQ per route (the plan rule only for non-webhook producers: ingest sends to the plan
 * queue itself), a rule copying every event to an `events` queue, and the bucket.
 */
export const provisionAwsPipeline = async (
  aws: AwsSettings,
  prefix = 'sluice-dev',
  options: { coalesceSeconds?: number } = {},
): Promise<AwsPipelineResources> => {
  const events = new EventBridgeClient(clientConfig(aws));
  const sqs = new SQSClient(clientConfig(aws));
  const s3 = new S3Client(s3ClientConfig(aws));
  const busName = prefix;
  const bucket = `${prefix}-bundles`;
  await events
    .send(new CreateEventBusCommand({ Name: busName }))
    .catch(ignoreExisting(['ResourceAlreadyExistsException']));
  await s3
    .send(new CreateBucketCommand({ Bucket: bucket }))
    .catch(ignoreExisting(['BucketAlreadyOwnedByYou', 'BucketAlreadyExists']));

  const queues: Record<string, string> = {};
  const deadLetterQueues: Record<string, string> = {};
  const createQueue = async (name: string, attributes: Record<string, string> = {}) => {
    const created = await createQueueWithDlq(sqs, prefix, name, attributes);
    queues[name] = created.url;
    deadLetterQueues[created.url] = created.deadLetterUrl;
    return created;
  };

  const rule = async (
    name: string,
    pattern: Record<string, unknown>,
    arn: string,
    groupId?: string,
    eventBusName = busName,
  ) => {
    await events.send(
      new PutRuleCommand({
        Name: `${prefix}-${name}`,
        EventBusName: eventBusName,
        EventPattern: JSON.stringify(pattern),
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: `${prefix}-${name}`,
        EventBusName: eventBusName,
        Targets: [
          { Id: 'queue', Arn: arn, ...(groupId ? { SqsParameters: { MessageGroupId: groupId } } : {}) },
        ],
      }),
    );
  };

  for (const route of PIPELINE_ROUTES) {
    const queue = await createQueue(
      route.queue.replace(/^sluice-/, ''),
      route.fn === 'plan' ? { DelaySeconds: String(options.coalesceSeconds ?? 1) } : {},
    );
    await rule(
      `to-${route.fn}`,
      {
        source: [EVENT_SOURCE],
        'detail-type': [...route.detailTypes],
        // Webhook pushes reach the plan queue from ingest itself (grouped per repo+branch).
        ...(route.fn === 'plan' ? { detail: { provider: [{ 'anything-but': [...PROVIDER_NAMES] }] } } : {}),
      },
      queue.arn,
      route.fifo ? 'sluice-plan' : undefined,
    );
    // CloudWatch alarms entering ALARM, from the default bus (rollback).
    for (const foreign of route.foreign) {
      const pattern = {
        source: [foreign.source],
        'detail-type': [foreign.detailType],
        detail: { state: { value: ['ALARM'] } },
      };
      await rule(`${foreign.source}-to-${route.fn}`, pattern, queue.arn, undefined, 'default');
      // …and those of other accounts and regions, forwarded onto the pipeline's bus by their
      // regional stacks' rules, as the management stack's ForwardedAlarmRule takes them.
      await rule(`${foreign.source}-forwarded-to-${route.fn}`, pattern, queue.arn);
    }
  }
  // The operating side (docs/operate.md): every event but the schedules' requests is kept (record),
  // and Reconcile Requested is consumed (reconcile), as in infra/stacks/management-stack.ts.
  const record = await createQueue('record');
  await rule(
    'to-record',
    { source: [EVENT_SOURCE], 'detail-type': [{ 'anything-but': [...UNRECORDED_DETAIL_TYPES] }] },
    record.arn,
  );
  const reconcile = await createQueue('reconcile');
  await rule(
    'to-reconcile',
    { source: [EVENT_SOURCE], 'detail-type': ['Reconcile Requested'] },
    reconcile.arn,
  );
  // Progressive delivery (docs/progressive-delivery.md): the rollout queue takes the rollouts'
  // delayed wake-ups (SqsRolloutTimer) and `sluice approve`'s Rollout Approved.
  const rollout = await createQueue('rollout');
  await rule('to-rollout', { source: [EVENT_SOURCE], 'detail-type': [...ROLLOUT_EVENTS] }, rollout.arn);
  const all = await createQueue('events');
  await rule('to-events', { source: [EVENT_SOURCE] }, all.arn);
  return { busName, bucket, queues, deadLetterQueues };
};

const queueArn = async (sqs: SQSClient, url: string): Promise<string> => {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return Attributes!.QueueArn!;
};

/** Creates or updates a JSON secret (`aws-sm://name#key` references read it). */
export const putJsonSecret = async (
  aws: AwsSettings,
  name: string,
  value: Readonly<Record<string, string>>,
  client: SecretsManagerClient = new SecretsManagerClient(clientConfig(aws)),
): Promise<void> => {
  const SecretString = JSON.stringify(value);
  await client.send(new CreateSecretCommand({ Name: name, SecretString })).catch(async (error: unknown) => {
    if ((error as { name?: string }).name !== 'ResourceExistsException') throw error;
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
  });
};

/** A queue and its dead-letter queue (redrive after MAX_RECEIVE_COUNT receives), as ConsumerQueue in infra/. */
export const createQueueWithDlq = async (
  sqs: SQSClient,
  prefix: string,
  name: string,
  attributes: Record<string, string> = {},
): Promise<{ url: string; arn: string; deadLetterUrl: string }> => {
  const fifo = name.endsWith('.fifo');
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${prefix}-${fifo ? name.replace(/\.fifo$/, '-dlq.fifo') : `${name}-dlq`}`,
      Attributes: fifo ? { FifoQueue: 'true' } : {},
    }),
  );
  const dlqArn = await queueArn(sqs, dlq.QueueUrl!);
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${prefix}-${name}`,
      Attributes: {
        ...(fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'true' } : {}),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
        ...attributes,
      },
    }),
  );
  return { url: QueueUrl!, arn: await queueArn(sqs, QueueUrl!), deadLetterUrl: dlq.QueueUrl! };
};
