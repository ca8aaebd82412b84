/**
 * Lambda entry point: the rollout stage on AWS adapters, built once per cold start. Woken by its
 * own delayed messages (a held wave, an outcome, a bake's end) and by Rollout Approved on the bus,
 * it sends each wave's held apply requests when the wave's gates allow (docs/progressive-delivery.md).
 */
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { dispatching, signing, statusProvider } from '../commons/aws.ts';

export const handler = createPipeline(
  // Commit statuses of waves waiting for approval, when the Git secret holds a token.
  { ...dispatching(), ...(await statusProvider()) },
  signing.options,
).handler('rollout');
