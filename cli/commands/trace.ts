import path from 'node:path';
import type { Command } from 'commander';
import { readEventLog } from '../../shared/adapters/local/event-bus.ts';
import { BadInputError } from '../../shared/errors.ts';
import type { Envelope } from '../../shared/schemas/events.ts';
import { printEvent } from '../progress.ts';
import { workdirPaths } from '../runtime/local-pipeline.ts';
import { DEFAULT_WORKDIR } from './status.ts';

/**
 * A push's story: every event for the commit, plus every event of the same traces (a push
 * superseded by this commit, the deployments it led to), in order.
 */
export const traceCommit = (events: readonly Envelope[], sha: string): Envelope[] => {
  const detail = (e: Envelope) =>
    e.detail as { commit?: string; traceId?: string; supersededBy?: string; revertCommit?: string };
  // A revert commit links back to the release it reverted (its Revert Committed event).
  const direct = events.filter(
    (e) =>
      detail(e).commit?.startsWith(sha) ||
      detail(e).supersededBy?.startsWith(sha) ||
      detail(e).revertCommit?.startsWith(sha),
  );
  const traces = new Set(direct.map((e) => detail(e).traceId).filter((t): t is string => t !== undefined));
  return events.filter((e) => direct.includes(e) || traces.has(detail(e).traceId ?? ''));
};

export const registerTrace = (program: Command): void => {
  program
    .command('trace')
    .description('every step a push went through, with times, and why anything was skipped or superseded')
    .argument('<sha>', 'the commit (at least 4 hex characters)')
    .option('--workdir <dir>', 'the working directory of `sluice dev`', DEFAULT_WORKDIR)
    .option('--json', 'print the events as JSON')
    .action(async (sha: string, options: { workdir: string; json?: boolean }) => {
      if (!/^[0-9a-f]{4,40}$/.test(sha)) {
        throw new BadInputError(
          `commit "${sha}"`,
          'is not a commit id',
          'pass 4 to 40 lower-case hex characters',
        );
      }
      const events = traceCommit(await readEventLog(workdirPaths(path.resolve(options.workdir)).events), sha);
      if (options.json) {
        console.log(JSON.stringify({ events }, null, 2));
        return;
      }
      if (events.length === 0) {
        console.log(
          `No events for ${sha} in ${options.workdir}. Was it pushed while \`sluice dev\` was running?`,
        );
        process.exitCode = 1;
        return;
      }
      events.forEach(printEvent((line) => console.log(line)));
    });
};
