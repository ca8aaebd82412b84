/** Lambda entry point: the report stage on AWS adapters, built once per cold start. */
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { bus, clock, deadLetters, ledger, owners, statusProvider } from '../commons/aws.ts';

export const handler = createPipeline({
  clock,
  bus: bus(),
  ledger: ledger(),
  deadLetters: deadLetters(),
  // Outcomes only from the account whose regional stack serves the target.
  owners: owners(),
  ...(await statusProvider()),
}).handler('report');
