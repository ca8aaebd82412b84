import type { Command } from 'commander';
import { BadInputError } from '../../shared/errors.ts';
import { openReader, type TargetFlags, targetOptions } from '../operate.ts';
import { printEvent } from '../progress.ts';

export { traceCommit } from '../../shared/core/history.ts';

export const registerTrace = (program: Command): void => {
  targetOptions(
    program
      .command('trace')
      .description('every step a push went through, with times, and why anything was skipped or superseded')
      .argument('<sha>', 'the commit (at least 4 hex characters)'),
  )
    .option('--json', 'print the events as JSON')
    .action(async (sha: string, options: TargetFlags & { json?: boolean }) => {
      if (!/^[0-9a-f]{4,40}$/.test(sha)) {
        throw new BadInputError(
          `commit "${sha}"`,
          'is not a commit id',
          'pass 4 to 40 lower-case hex characters',
        );
      }
      const reader = await openReader(options);
      const events = await reader.history.traceOf(sha);
      if (options.json) {
        console.log(JSON.stringify({ events }, null, 2));
        return;
      }
      if (events.length === 0) {
        console.log(
          options.aws
            ? `No events for ${sha} in ${reader.where}. Was it pushed to this stack, and is the record function deployed?`
            : `No events for ${sha} in ${options.workdir}. Was it pushed while \`sluice dev\` was running?`,
        );
        process.exitCode = 1;
        return;
      }
      events.forEach(printEvent((line) => console.log(line)));
    });
};
