/** Lambda entry point: the report stage on AWS adapters, built once per cold start. */
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import { clock, deadLetters, ledger, owners, rolloutTimer, statusProvider } from '../commons/aws.ts';

// No bus: report publishes nothing, and the stack gives it no SLUICE_BUS_NAME.
export const handler = createPipeline({
  clock,
  ledger: ledger(),
  deadLetters: deadLetters(),
  // Outcomes only from the account whose regional stack serves the target.
  owners: owners(),
  // An outcome of a target in a rollout wakes the rollout function (its wave may be Healthy now).
  rolloutTimer: rolloutTimer(),
  ...(await statusProvider()),
}).handler('report');
