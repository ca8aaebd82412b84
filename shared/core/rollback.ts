/**
 * Rollback, the public face: triggers (alarm, failed deployment, by hand), the re-dispatch of the
 * last known good bundle, and the revert that makes Git agree. Each part lives in rollback/.
 */
export type { RollbackDeps } from './rollback/deps.ts';
export { executeRollback } from './rollback/execute.ts';
export { knownGoodFor, rolledBackOutcome } from './rollback/known-good.ts';
export { revertMessage } from './rollback/revert.ts';
export { manualRollbackRequests, rollbackForFailure, rollbacksForAlarm } from './rollback/triggers.ts';
