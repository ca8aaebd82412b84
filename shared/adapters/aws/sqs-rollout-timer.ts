import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from '../../config/env.ts';
import type { Clock, RolloutTimer, RolloutWake } from '../../ports/index.ts';
import { wakeBody } from '../../runtime/rollout-stage.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

/** SQS delays a message by at most 15 minutes. */
const MAX_DELAY_SECONDS = 900;

/**
 * A rollout's wake-up as a delayed message on the rollout queue (SQS DelaySeconds, standard
 * queue): nothing runs until it becomes visible. A bake longer than 15 minutes is a chain — the
 * rollout stage, woken before the bake's end, schedules itself again for the rest
 * (docs/progressive-delivery.md#waits explains the choice over EventBridge Scheduler).
 */
export class SqsRolloutTimer implements RolloutTimer {
  readonly #client: SQSClient;
  readonly #queueUrl: string;
  readonly #clock: Clock;

  constructor(options: { queueUrl: string; clock: Clock; client?: SQSClient; aws?: AwsSettings }) {
    this.#queueUrl = options.queueUrl;
    this.#clock = options.clock;
    this.#client = options.client ?? new SQSClient(clientConfig(options.aws));
  }

  async schedule(wake: RolloutWake, at: Date): Promise<void> {
    const seconds = Math.ceil((at.getTime() - this.#clock.now().getTime()) / 1000);
    try {
      await this.#client.send(
        new SendMessageCommand({
          QueueUrl: this.#queueUrl,
          MessageBody: wakeBody(wake),
          DelaySeconds: Math.max(0, Math.min(MAX_DELAY_SECONDS, seconds)),
        }),
      );
    } catch (error) {
      throw translateAwsError(error, `rollout queue ${this.#queueUrl}`);
    }
  }
}
