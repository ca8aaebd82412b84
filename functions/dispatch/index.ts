/** Lambda entry point: the dispatch stage on AWS adapters, built once per cold start. */
import { SqsDispatchChunkQueue } from '../../shared/adapters/aws/sqs-dispatch-chunks.ts';
import { requireEnv, SLUICE_ENV } from '../../shared/config/env.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { aws, dispatching, signing } from '../commons/aws.ts';

export const handler = createPipeline(
  {
    ...dispatching(),
    // A bundle for many targets is split into chunks on this function's own queue, one invocation each.
    dispatchChunks: new SqsDispatchChunkQueue({ queueUrl: requireEnv(SLUICE_ENV.dispatchQueueUrl), aws }),
  },
  signing.options,
).handler('dispatch');
