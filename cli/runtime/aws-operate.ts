/**
 * The operating side of the management stack on the emulator, for `sluice dev --aws`: the record
 * queue (every `sluice` event but the schedules' requests) and the reconcile queue (Reconcile
 * Requested), each with its DLQ and bus rule as in infra/stacks/management-stack.ts, drained in this
 * process by the composition root's record and reconcile handlers, as the Lambdas run them.
 */
import { writeFile } from 'node:fs/promises';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { createQueueWithDlq } from '../../shared/adapters/aws/pipeline-resources.ts';
import { pollQueue } from '../../shared/adapters/aws/sqs-poller.ts';
import { SqsReconcileTrigger } from '../../shared/adapters/aws/sqs-reconcile-trigger.ts';
import { localContext, type SqsHandler } from '../../shared/adapters/local/event-source.ts';
import type { AwsSettings } from '../../shared/config/env.ts';
import { EVENT_SOURCE } from '../../shared/schemas/events.ts';

/** Scheduled requests carry no trace: nothing to keep, so the record rule leaves them out. */
export const UNRECORDED_DETAIL_TYPES = ['Reconcile Requested', 'Drift Check Requested'] as const;

export interface AwsOperateOptions {
  readonly aws: AwsSettings;
  readonly prefix: string;
  readonly busName: string;
  /** `pipeline.handler('record')` and `pipeline.handler('reconcile')` of the host's pipeline. */
  readonly handlers: Readonly<Record<'record' | 'reconcile', SqsHandler>>;
  readonly log?: (line: string) => void;
}

export interface AwsOperate {
  /** Queue and DLQ URLs by consumer: record, reconcile. */
  readonly queues: Readonly<Record<'record' | 'reconcile', { url: string; deadLetterUrl: string }>>;
  /** Sends Reconcile Requested to the reconcile queue (the schedule's and ingest's path). */
  readonly trigger: SqsReconcileTrigger;
  stop(): Promise<void>;
}

export const startAwsOperate = async (options: AwsOperateOptions): Promise<AwsOperate> => {
  const { aws, prefix } = options;
  const sqs = new SQSClient(clientConfig(aws));
  const events = new EventBridgeClient(clientConfig(aws));
  const rule = async (name: string, pattern: Record<string, unknown>, arn: string) => {
    await events.send(
      new PutRuleCommand({
        Name: `${prefix}-${name}`,
        EventBusName: options.busName,
        EventPattern: JSON.stringify(pattern),
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: `${prefix}-${name}`,
        EventBusName: options.busName,
        Targets: [{ Id: 'queue', Arn: arn }],
      }),
    );
  };
  const record = await createQueueWithDlq(sqs, prefix, 'record');
  await rule(
    'to-record',
    { source: [EVENT_SOURCE], 'detail-type': [{ 'anything-but': [...UNRECORDED_DETAIL_TYPES] }] },
    record.arn,
  );
  const reconcile = await createQueueWithDlq(sqs, prefix, 'reconcile');
  await rule(
    'to-reconcile',
    { source: [EVENT_SOURCE], 'detail-type': ['Reconcile Requested'] },
    reconcile.arn,
  );

  const stop = new AbortController();
  const loops: Promise<void>[] = [];
  const drain = (queueUrl: string, name: string, handler: SqsHandler) => {
    loops.push(
      pollQueue({
        queueUrl,
        sqs,
        signal: stop.signal,
        visibilityTimeout: 30,
        ...(options.log ? { log: (line: string) => options.log?.(`${name}: ${line}`) } : {}),
        handle: async (message) => {
          const result = await handler({ Records: [message] }, localContext(name));
          return (result?.batchItemFailures ?? []).length === 0;
        },
      }),
    );
  };
  drain(record.url, 'record', options.handlers.record);
  drain(reconcile.url, 'reconcile', options.handlers.reconcile);
  return {
    queues: {
      record: { url: record.url, deadLetterUrl: record.deadLetterUrl },
      reconcile: { url: reconcile.url, deadLetterUrl: reconcile.deadLetterUrl },
    },
    trigger: new SqsReconcileTrigger({ queueUrl: reconcile.url, client: sqs }),
    async stop() {
      stop.abort();
      await Promise.allSettled(loops);
    },
  };
};

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * The dev stack's resources in the shape `cdk deploy --outputs-file` writes for the management
 * stack, so `sluice status|trace|rollback|redrive --aws --outputs-file FILE` reads them the same way.
 */
export const writeAwsOutputs = async (
  file: string,
  stack: string,
  resources: { busName: string; bucket: string },
  queues: Readonly<Record<string, { url: string; deadLetterUrl?: string }>>,
): Promise<void> => {
  const outputs: Record<string, string> = { BusName: resources.busName, BundleBucket: resources.bucket };
  for (const [name, queue] of Object.entries(queues)) {
    const key = capitalise(name.replace(/\.fifo$/, ''));
    outputs[`${key}QueueUrl`] = queue.url;
    if (queue.deadLetterUrl) outputs[`${key}DlqUrl`] = queue.deadLetterUrl;
  }
  await writeFile(file, `${JSON.stringify({ [stack]: outputs }, null, 2)}\n`);
};
