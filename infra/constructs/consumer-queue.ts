import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MAX_RECEIVE_COUNT } from '../../shared/routing.ts';
import { acceptFinding } from '../nag.ts';

/** Queue settings every Sluice queue shares: SSE-SQS and TLS only. */
const QUEUE_DEFAULTS = { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true } as const;

export interface ConsumerQueueProps {
  /** Physical name; FIFO names end in `.fifo`. Fixed so other accounts can address the queue. */
  readonly queueName: string;
  /** At least six times the consumer's timeout, as Lambda's SQS event source recommends. */
  readonly visibilityTimeout: Duration;
  /** Queue-wide delivery delay (the plan queue's coalescing window). @default none */
  readonly deliveryDelay?: Duration;
}

/**
 * A consumer's queue and its dead-letter queue: SSE-SQS encryption (works across accounts and
 * with EventBridge without a key policy), TLS-only, poison messages parked after
 * MAX_RECEIVE_COUNT receives for 14 days. Its stack's `Alerts.parked` alarm watches the DLQ.
 */
export class ConsumerQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ConsumerQueueProps) {
    super(scope, id);
    const fifo = props.queueName.endsWith('.fifo');
    this.deadLetterQueue = deadLetterQueue(
      this,
      'Dlq',
      fifo ? props.queueName.replace(/\.fifo$/, '-dlq.fifo') : `${props.queueName}-dlq`,
    );
    this.queue = new sqs.Queue(this, 'Queue', {
      ...QUEUE_DEFAULTS,
      queueName: props.queueName,
      // Content-based dedup: EventBridge sends no deduplication id to a FIFO target.
      ...(fifo ? { fifo: true, contentBasedDeduplication: true } : {}),
      visibilityTimeout: props.visibilityTimeout,
      ...(props.deliveryDelay ? { deliveryDelay: props.deliveryDelay } : {}),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
  }
}

/**
 * A dead-letter queue: messages kept 14 days. One alarm per stack (`Alerts.parked`) watches all
 * of a stack's dead-letter queues rather than one alarm each (docs/cost.md).
 */
export const deadLetterQueue = (scope: Construct, id: string, queueName: string): sqs.Queue => {
  const queue = new sqs.Queue(scope, id, {
    ...QUEUE_DEFAULTS,
    queueName,
    ...(queueName.endsWith('.fifo') ? { fifo: true } : {}),
    retentionPeriod: Duration.days(14),
  });
  acceptFinding(
    queue,
    'SQS3',
    'This queue is itself a dead-letter queue; a DLQ of a DLQ would only hide messages',
  );
  return queue;
};
