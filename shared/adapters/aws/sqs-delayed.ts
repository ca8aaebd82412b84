/**
 * Waits as delayed SQS messages on a standard queue (DelaySeconds): nothing runs and nothing is
 * billed until the message becomes visible. A rollout's bake (SqsRolloutTimer) and an agent's next
 * look at health (SqsHealthRechecks) both wait this way; FIFO queues cannot delay one message.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from '../../config/env.ts';
import type { Clock, HealthRecheck, HealthRechecks } from '../../ports/index.ts';
import type { TargetRef } from '../../schemas/events.ts';
import { healthRecheckBody } from '../../schemas/health-recheck.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

/** SQS delays a message by at most 15 minutes. */
export const MAX_DELAY_SECONDS = 900;

export interface DelayedSendOptions {
  readonly client: SQSClient;
  readonly clock: Clock;
  readonly queueUrl: string;
  /** What the queue is, for the error message. */
  readonly what: string;
}

/** Sends `body` to be received at `at` (whole seconds, rounded up, at most 15 minutes ahead). */
export const sendDelayed = async (options: DelayedSendOptions, body: string, at: Date): Promise<void> => {
  const seconds = Math.ceil((at.getTime() - options.clock.now().getTime()) / 1000);
  try {
    await options.client.send(
      new SendMessageCommand({
        QueueUrl: options.queueUrl,
        MessageBody: body,
        DelaySeconds: Math.max(0, Math.min(MAX_DELAY_SECONDS, seconds)),
      }),
    );
  } catch (error) {
    throw translateAwsError(error, `${options.what} ${options.queueUrl}`);
  }
};

/**
 * An agent's health re-checks as delayed messages on its region's health queue (a standard queue
 * beside the FIFO agent queue, consumed by the same agent function).
 */
export class SqsHealthRechecks implements HealthRechecks {
  readonly #client: SQSClient;
  readonly #clock: Clock;
  readonly #queueUrlFor: (target: TargetRef) => string | Promise<string>;

  constructor(options: {
    /** One URL (a Lambda agent serves one region), or one per target's region (`sluice dev --aws`). */
    queueUrl: string | ((target: TargetRef) => string | Promise<string>);
    clock: Clock;
    client?: SQSClient;
    aws?: AwsSettings;
  }) {
    const { queueUrl } = options;
    this.#queueUrlFor = typeof queueUrl === 'string' ? () => queueUrl : queueUrl;
    this.#clock = options.clock;
    this.#client = options.client ?? new SQSClient(clientConfig(options.aws));
  }

  async schedule(check: HealthRecheck, at: Date): Promise<void> {
    const queueUrl = await this.#queueUrlFor(check.request.target);
    await sendDelayed(
      { client: this.#client, clock: this.#clock, queueUrl, what: 'health queue' },
      healthRecheckBody(check),
      at,
    );
  }
}
