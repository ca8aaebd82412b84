/** Helpers for the emulator suites: settings from the globalSetup, clients, unique names, polling. */
import { randomBytes } from 'node:crypto';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { inject } from 'vitest';
import { clientConfig, s3ClientConfig } from '../../shared/adapters/aws/client-config.ts';
import type { AwsSettings } from '../../shared/config/env.ts';

export const aws = (): AwsSettings => ({ region: inject('awsRegion'), endpoint: inject('awsEndpoint') });

export const clients = () => {
  const settings = aws();
  return {
    events: new EventBridgeClient(clientConfig(settings)),
    sqs: new SQSClient(clientConfig(settings)),
    s3: new S3Client(s3ClientConfig(settings)),
    secrets: new SecretsManagerClient(clientConfig(settings)),
  };
};

/** Lower-case, unique per call: every test owns its resources. */
export const uniqueName = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/**
 * Receives until `count` messages arrived or `timeoutMs` passed. Deletes what it received unless
 * `keep` is set: a FIFO queue hands out nothing more from a group while a message of it is in flight.
 */
export const receive = async (
  sqs: SQSClient,
  queueUrl: string,
  options: { count: number; timeoutMs?: number; visibilityTimeout?: number; keep?: boolean },
): Promise<Message[]> => {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const messages: Message[] = [];
  while (messages.length < options.count && Date.now() < deadline) {
    const output = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, options.count - messages.length),
        WaitTimeSeconds: 1,
        VisibilityTimeout: options.visibilityTimeout ?? 30,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    const received = output.Messages ?? [];
    messages.push(...received);
    if (!options.keep && received.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: received.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle!,
          })),
        }),
      );
    }
  }
  return messages;
};

/** What the Lambda SQS event source would hand a function for this message. */
export const toRecord = (message: Message, queueArn: string): SQSRecord =>
  ({
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: message.Attributes ?? {},
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: aws().region,
  }) as SQSRecord;

export const sha = (n: number): string => n.toString(16).padStart(40, '0');
