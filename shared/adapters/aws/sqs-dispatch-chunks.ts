import { SQSClient } from '@aws-sdk/client-sqs';
import type { AwsSettings } from '../../config/env.ts';
import type { DispatchChunk, DispatchChunkQueue } from '../../ports/index.ts';
import { dispatchChunkBody } from '../../schemas/dispatch-chunk.ts';
import { clientConfig } from './client-config.ts';
import { sendMessageBatches } from './sqs-send-batch.ts';

/**
 * The chunks of a split bundle on the dispatch queue (SLUICE_DISPATCH_QUEUE_URL, a standard
 * queue): SendMessageBatch, each chunk its own message and so its own dispatch invocation
 * (the dispatch function's batch size is 1). A chunk sent twice is harmless: its hand-over is
 * idempotent (shared/core/dispatch.ts).
 */
export class SqsDispatchChunkQueue implements DispatchChunkQueue {
  readonly #queueUrl: string;
  readonly #client: SQSClient;

  constructor(options: { queueUrl: string; client?: SQSClient; aws?: AwsSettings }) {
    this.#queueUrl = options.queueUrl;
    this.#client = options.client ?? new SQSClient(clientConfig(options.aws));
  }

  async send(chunks: readonly DispatchChunk[]): Promise<void> {
    await sendMessageBatches(
      this.#client,
      this.#queueUrl,
      chunks.map((chunk) => ({ MessageBody: dispatchChunkBody(chunk) })),
      `dispatch queue ${this.#queueUrl}`,
    );
  }
}
