import { foldHistory, traceCommit } from '../../core/history.ts';
import type { BranchOutcome, History, PlannedOutcome } from '../../ports/index.ts';
import type { Envelope } from '../../schemas/events.ts';
import { readEventLog } from './event-bus.ts';

/**
 * The record `sluice dev` keeps: its bus appends every event to `state/events.jsonl`, and this
 * reads it back with the same rules as the S3 record (shared/core/history.ts).
 */
export class FileHistory implements History {
  readonly #file: string;

  constructor(eventsFile: string) {
    this.#file = eventsFile;
  }

  async traceOf(sha: string): Promise<Envelope[]> {
    return traceCommit(await readEventLog(this.#file), sha);
  }

  async newest(): Promise<{ targets: PlannedOutcome[]; branches: BranchOutcome[] }> {
    return foldHistory(await readEventLog(this.#file));
  }
}
