import { BatchProcessor, EventType, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';

/**
 * Runs `handle` over an SQS batch and reports only the failed messages, so SQS redelivers those
 * (and, after maxReceiveCount, parks them in the DLQ) while the rest are deleted.
 * FIFO: records run in order and the first failure fails every record after it, keeping the
 * group's order. Standard: records run concurrently and fail independently.
 */
export const processSqsRecords = async (
  records: readonly SQSRecord[],
  handle: (record: SQSRecord) => Promise<void>,
  options: { fifo: boolean },
): Promise<SQSBatchResponse> => {
  // A processor holds per-batch state, so each call gets its own.
  const processor = options.fifo ? new SqsFifoPartialProcessorAsync() : new BatchProcessor(EventType.SQS);
  processor.register([...records], handle, { throwOnFullBatchFailure: false });
  await processor.process();
  return processor.response();
};
