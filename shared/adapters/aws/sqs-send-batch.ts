import {
  type BatchResultErrorEntry,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { UnavailableError } from '../../errors.ts';
import { batchesOf } from './batches.ts';
import { translateAwsError } from './errors.ts';

/** SendMessageBatch takes at most 10 entries and 256 KiB in all (a margin is kept for attributes). */
const MAX_ENTRIES = 10;
const MAX_BYTES = 200 * 1024;
/** Attempts per batch, counting the first; only the entries that failed are sent again. */
const ATTEMPTS = 3;

/**
 * Sends `entries` (their `Id`s are set here) to one queue with SendMessageBatch, re-sending an
 * entry SQS failed on its side; throws (retryable) when one still fails, naming `what`.
 */
export const sendMessageBatches = async (
  client: SQSClient,
  queueUrl: string,
  entries: readonly Omit<SendMessageBatchRequestEntry, 'Id'>[],
  what: string,
): Promise<void> => {
  const size = (entry: { MessageBody?: string | undefined }) =>
    Buffer.byteLength(entry.MessageBody ?? '') + 512;
  for (const batch of batchesOf(entries, { maxItems: MAX_ENTRIES, maxBytes: MAX_BYTES, size })) {
    let pending: SendMessageBatchRequestEntry[] = batch.map((entry, i) => ({ ...entry, Id: String(i) }));
    let failed: BatchResultErrorEntry[] = [];
    for (let attempt = 1; attempt <= ATTEMPTS && pending.length > 0; attempt++) {
      try {
        const out = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
        failed = out.Failed ?? [];
      } catch (error) {
        throw translateAwsError(error, what, { entries: pending.length });
      }
      const again = new Set(failed.filter((f) => !f.SenderFault).map((f) => f.Id));
      if (failed.some((f) => f.SenderFault)) break;
      pending = pending.filter((entry) => again.has(entry.Id));
    }
    if (failed.length > 0) {
      throw new UnavailableError(what, undefined, {
        failed: failed.map((f) => `${f.Id}: ${f.Code ?? 'error'}: ${f.Message ?? ''}`),
      });
    }
  }
};
