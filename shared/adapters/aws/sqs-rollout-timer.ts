import { SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from '../../config/env.ts';
import type { Clock, RolloutTimer, RolloutWake } from '../../ports/index.ts';
import { wakeBody } from '../../runtime/rollout-stage.ts';
import { clientConfig } from './client-config.ts';
import { sendDelayed } from './sqs-delayed.ts';

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
    await sendDelayed(
      { client: this.#client, clock: this.#clock, queueUrl: this.#queueUrl, what: 'rollout queue' },
      wakeBody(wake),
      at,
    );
  }
}
