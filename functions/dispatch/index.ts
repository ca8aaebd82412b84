/** Lambda entry point: the dispatch stage on AWS adapters, built once per cold start. */
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { dispatching, signing } from '../commons/aws.ts';

export const handler = createPipeline(dispatching(), signing.options).handler('dispatch');
