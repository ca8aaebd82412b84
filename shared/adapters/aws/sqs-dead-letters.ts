import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from '../../config/env.ts';
import type { DeadLetters, ReceivedMessage } from '../../ports/index.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

/** The message attribute that carries why a message was parked. */
export const DEAD_LETTER_REASON_ATTRIBUTE = 'sluice-dead-letter-reason';

export interface SqsDeadLettersOptions {
  /** The dead-letter queue of the queue a message came from (its ARN in Lambda, its URL when polled). */
  readonly queueUrlFor: (eventSourceARN: string) => string;
  readonly client?: SQSClient;
  readonly aws?: AwsSettings;
}

/**
 * Parks a poison message in its queue's dead-letter queue at once, with the reason as a message
 * attribute; the caller then reports the record done, so the source queue deletes it. FIFO
 * dead-letter queues keep the message's group; the message id deduplicates a repeated park.
 */
export class SqsDeadLetters implements DeadLetters {
  readonly #queueUrlFor: (eventSourceARN: string) => string;
  readonly #client: SQSClient;

  constructor(options: SqsDeadLettersOptions) {
    this.#queueUrlFor = options.queueUrlFor;
    this.#client = options.client ?? new SQSClient(clientConfig(options.aws));
  }

  async park(message: ReceivedMessage, reason: string): Promise<void> {
    const queueUrl = this.#queueUrlFor(message.eventSourceARN);
    const group = message.attributes?.MessageGroupId;
    try {
      await this.#client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: message.body,
          MessageAttributes: {
            [DEAD_LETTER_REASON_ATTRIBUTE]: {
              DataType: 'String',
              StringValue: reason.slice(0, 1024) || 'poison',
            },
          },
          ...(queueUrl.endsWith('.fifo')
            ? { MessageGroupId: group ?? 'poison', MessageDeduplicationId: message.messageId.slice(0, 128) }
            : {}),
        }),
      );
    } catch (error) {
      throw translateAwsError(error, `dead-letter queue ${queueUrl}`);
    }
  }
}
