/** Lambda entry point: the dispatch stage on AWS adapters, built once per cold start. */
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { agents, bus, clock, deadLetters, ledger, rolloutTimer, signing } from '../commons/aws.ts';

export const handler = createPipeline(
  {
    clock,
    bus: bus(),
    ledger: ledger(),
    agents: agents(),
    deadLetters: deadLetters(),
    // An app with `rollout` waves: its requests wait in the ledger, the rollout function sends them.
    rolloutTimer: rolloutTimer(),
    ...signing.signer(),
  },
  signing.options,
).handler('dispatch');
