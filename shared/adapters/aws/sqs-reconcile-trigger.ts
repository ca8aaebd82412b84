import { randomUUID } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from '../../config/env.ts';
import type { ReconcileTrigger } from '../../ports/index.ts';
import { type Envelope, EVENT_SOURCE, reconcileRequested, SCHEMA_VERSION } from '../../schemas/events.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

/** SQS delays a message by at most 15 minutes. */
const MAX_DELAY_SECONDS = 900;

/**
 * Sends Reconcile Requested straight to the reconcile queue, delayed (SQS DelaySeconds): what
 * ingest does when it throttles an authenticated push, so the branch head is still planned within
 * seconds although the sender was told to come back later. The body is the envelope the schedule's
 * rule would deliver, so the consumer reads one shape.
 */
export class SqsReconcileTrigger implements ReconcileTrigger {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(options: { queueUrl: string; client?: SQSClient; aws?: AwsSettings }) {
    this.#queueUrl = options.queueUrl;
    this.#client = options.client ?? new SQSClient(clientConfig(options.aws));
  }

  async request(input: { repo?: string; delaySeconds: number; requestedBy: string }): Promise<void> {
    const detail = reconcileRequested.parse({
      schemaVersion: SCHEMA_VERSION,
      requestedBy: input.requestedBy,
      ...(input.repo ? { repo: input.repo } : {}),
    });
    const envelope: Envelope = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Reconcile Requested',
      source: EVENT_SOURCE,
      time: new Date().toISOString(),
      resources: [],
      detail,
    };
    try {
      await this.#client.send(
        new SendMessageCommand({
          QueueUrl: this.#queueUrl,
          MessageBody: JSON.stringify(envelope),
          DelaySeconds: Math.max(0, Math.min(MAX_DELAY_SECONDS, Math.ceil(input.delaySeconds))),
        }),
      );
    } catch (error) {
      throw translateAwsError(error, `reconcile queue ${this.#queueUrl}`);
    }
  }
}
