import type { DeadLetters, ReceivedMessage } from '../../ports/index.ts';
import type { LocalQueue } from './queue.ts';

/**
 * Parks a poison message in the dead-letter queue of the local queue it came from (named after the
 * last `:` of its source ARN), with its reason, as SqsDeadLetters does on SQS.
 */
export const localDeadLetters = (queues: ReadonlyMap<string, LocalQueue>): DeadLetters => ({
  async park(message: ReceivedMessage, reason: string): Promise<void> {
    const name = message.eventSourceARN.split(':').at(-1) ?? '';
    queues.get(name)?.deadLetter(message.receiptHandle, reason);
  },
});
