import { userInfo } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { controlEnvelope, sendToDev } from '../../shared/adapters/local/control-server.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { approvalRequests } from '../../shared/core/rollout.ts';
import { BadInputError } from '../../shared/errors.ts';
import { awsBus, openAws, readerFor, type TargetFlags, targetOptions } from '../operate.ts';
import { workdirPaths } from '../runtime/local-pipeline.ts';

/** `sluice approve`: lets the approval wave of a rollout start (docs/progressive-delivery.md). */
export const registerApprove = (program: Command): void => {
  targetOptions(
    program
      .command('approve')
      .description('approve the next wave of an app rollout (rollout.waves[].approval)')
      .requiredOption('--app <name>', 'the app being rolled out')
      .requiredOption('--wave <name>', 'the wave to let start')
      .option('--commit <sha>', 'only the rollout of this commit (default: the one in progress)'),
  ).action(async (options: TargetFlags & { app: string; wave: string; commit?: string }) => {
    if (options.commit !== undefined && !/^[0-9a-f]{4,40}$/.test(options.commit)) {
      throw new BadInputError(
        `--commit ${options.commit}`,
        'is not a commit id',
        'pass 4 to 40 lower-case hex characters',
      );
    }
    const input = {
      app: options.app,
      wave: options.wave,
      by: userInfo().username,
      ...(options.commit ? { commit: options.commit } : {}),
    };
    if (options.aws) {
      const access = await openAws(options);
      const approvals = await approvalRequests(readerFor(access).ledger, input, systemClock);
      await awsBus(access).publish(approvals.map((detail) => ({ detailType: 'Rollout Approved', detail })));
      for (const a of approvals) console.log(`approved: ${a.app} wave ${a.wave} at ${a.commit.slice(0, 7)}`);
      return;
    }
    const ledger = new FileLedger(workdirPaths(path.resolve(options.workdir)).ledger);
    const approvals = await approvalRequests(ledger, input, systemClock);
    await sendToDev(
      options.workdir,
      approvals.map((detail) => controlEnvelope('Rollout Approved', detail)),
    );
    for (const a of approvals) console.log(`approved: ${a.app} wave ${a.wave} at ${a.commit.slice(0, 7)}`);
  });
};
