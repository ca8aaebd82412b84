/** Lambda entry point: the dispatch stage on AWS adapters, built once per cold start. */
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { agents, bus, clock, deadLetters, ledger, signing } from '../commons/aws.ts';

export const handler = createPipeline(
  { clock, bus: bus(), ledger: ledger(), agents: agents(), deadLetters: deadLetters(), ...signing.signer() },
  signing.options,
).handler('dispatch');
