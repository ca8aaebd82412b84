import { userInfo } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { controlEnvelope, sendToDev } from '../../shared/adapters/local/control-server.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { manualRollbackRequests } from '../../shared/core/rollback.ts';
import { BadInputError } from '../../shared/errors.ts';
import type { RollbackRequested } from '../../shared/schemas/events.ts';
import { awsBus, openAws, readerFor, type TargetFlags, targetOptions } from '../operate.ts';
import { workdirPaths } from '../runtime/local-pipeline.ts';

export const registerRollback = (program: Command): void => {
  targetOptions(
    program
      .command('rollback')
      .description('roll an app back to its last known good release now, and revert the commit in Git')
      .requiredOption('--app <name>', 'the app to roll back')
      .option('--target <name>', 'only this target (default: every target of the app)')
      .option('--to <sha>', 'the release to return to (default: the last known good)'),
  ).action(async (options: TargetFlags & { app: string; target?: string; to?: string }) => {
    if (options.to !== undefined && !/^[0-9a-f]{4,40}$/.test(options.to)) {
      throw new BadInputError(
        `--to ${options.to}`,
        'is not a commit id',
        'pass 4 to 40 lower-case hex characters',
      );
    }
    const rollback = { app: options.app, by: userInfo().username } as const;
    const request = {
      ...rollback,
      ...(options.target ? { target: options.target } : {}),
      ...(options.to ? { to: options.to } : {}),
    };
    if (options.aws) {
      // Rollback Requested on the stack's bus, with the caller's credentials (events:PutEvents).
      const access = await openAws(options);
      const requests = await manualRollbackRequests(readerFor(access).ledger, request, systemClock);
      await awsBus(access).publish(requests.map((detail) => ({ detailType: 'Rollback Requested', detail })));
      printRequested(requests);
      return;
    }
    const ledger = new FileLedger(workdirPaths(path.resolve(options.workdir)).ledger);
    const requests = await manualRollbackRequests(ledger, request, systemClock);
    await sendToDev(
      options.workdir,
      requests.map((r) => controlEnvelope('Rollback Requested', r)),
    );
    printRequested(requests);
  });
};

const printRequested = (requests: readonly RollbackRequested[]) => {
  for (const r of requests) {
    console.log(
      `rollback requested: ${r.app} on ${r.targets.join(', ')} from ${r.commit.slice(0, 7)} (trace ${r.traceId.slice(0, 8)}); follow it with \`sluice trace ${r.commit.slice(0, 7)}\``,
    );
  }
};
