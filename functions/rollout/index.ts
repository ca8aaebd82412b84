/**
 * Lambda entry point: the rollout stage on AWS adapters, built once per cold start. Woken by its
 * own delayed messages (a held wave, an outcome, a bake's end) and by Rollout Approved on the bus,
 * it sends each wave's held apply requests when the wave's gates allow (docs/progressive-delivery.md).
 */
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import {
  agents,
  bus,
  clock,
  deadLetters,
  ledger,
  rolloutTimer,
  signing,
  statusProvider,
} from '../commons/aws.ts';

export const handler = createPipeline(
  {
    clock,
    bus: bus(),
    ledger: ledger(),
    agents: agents(),
    deadLetters: deadLetters(),
    rolloutTimer: rolloutTimer(),
    ...signing.signer(),
    ...(await statusProvider()),
  },
  signing.options,
).handler('rollout');
