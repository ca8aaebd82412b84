import {
  type BatchResultErrorEntry,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { UnavailableError } from '../../errors.ts';
import { translateAwsError } from './errors.ts';

/** SendMessageBatch takes at most 10 entries, and at most 256 KiB in all (a margin is kept). */
const MAX_ENTRIES = 10;
const MAX_BYTES = 200 * 1024;
/** Attempts per batch, counting the first; only the entries that failed are sent again. */
const ATTEMPTS = 3;

/** Entries in SendMessageBatch calls of at most 10 and under the size limit, in order. */
export const batchesOf = <T extends { MessageBody?: string | undefined }>(entries: readonly T[]): T[][] => {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = Buffer.byteLength(entry.MessageBody ?? '') + 512;
    if (batch.length > 0 && (batch.length === MAX_ENTRIES || bytes + size > MAX_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
};

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
  for (const batch of batchesOf(entries)) {
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
