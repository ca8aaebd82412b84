import { createHash, randomUUID } from 'node:crypto';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from '../../config/env.ts';
import { UnavailableError } from '../../errors.ts';
import type { PlanIntake } from '../../ports/index.ts';
import { planGroupId } from '../../routing.ts';
import { type CommitPushed, type Envelope, EVENT_SOURCE } from '../../schemas/events.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

export interface SqsPlanIntakeOptions {
  /** The plan FIFO queue (`sluice-plan.fifo`). */
  readonly queueUrl: string;
  readonly client?: SQSClient;
  readonly aws?: AwsSettings;
}

/**
 * The body the planner reads: the same EventBridge envelope the bus rule would deliver, so the
 * plan function parses one shape whichever way a push arrives.
 */
export const planEnvelope = (detail: CommitPushed, now: Date = new Date()): Envelope => ({
  version: '0',
  id: randomUUID(),
  'detail-type': 'Commit Pushed',
  source: EVENT_SOURCE,
  time: now.toISOString(),
  resources: [],
  detail,
});

/**
 * PlanIntake on the plan FIFO queue: MessageGroupId = repo+branch (`planGroupId`), so branches are
 * planned in parallel and each branch in order; MessageDeduplicationId = the delivery (hashed to
 * fit SQS's 128 characters), so a redelivered webhook within five minutes is dropped by SQS.
 */
export class SqsPlanIntake implements PlanIntake {
  readonly #queueUrl: string;
  readonly #client: SQSClient;

  constructor(options: SqsPlanIntakeOptions) {
    this.#queueUrl = options.queueUrl;
    this.#client = options.client ?? new SQSClient(clientConfig(options.aws));
  }

  async submit(pushes: readonly { detail: CommitPushed; deduplicationId: string }[]): Promise<void> {
    for (let start = 0; start < pushes.length; start += 10) {
      const entries = pushes.slice(start, start + 10).map((push, index) => ({
        Id: String(index),
        MessageBody: JSON.stringify(planEnvelope(push.detail)),
        MessageGroupId: planGroupId(push.detail),
        MessageDeduplicationId: createHash('sha256').update(push.deduplicationId).digest('hex'),
      }));
      let failed: readonly { Id?: string; Code?: string; Message?: string }[];
      try {
        const out = await this.#client.send(
          new SendMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: entries }),
        );
        failed = out.Failed ?? [];
      } catch (error) {
        throw translateAwsError(error, `plan queue ${this.#queueUrl}`);
      }
      if (failed.length > 0) {
        // Retryable: ingest gives the delivery back and answers 503, so the provider redelivers.
        throw new UnavailableError(`plan queue ${this.#queueUrl}`, undefined, {
          failed: failed.map((f) => `${f.Code ?? 'error'}: ${f.Message ?? ''}`),
        });
      }
    }
  }
}
