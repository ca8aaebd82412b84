import path from 'node:path';
import type { Command } from 'commander';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { workdirPaths } from '../runtime/local-pipeline.ts';

export const DEFAULT_WORKDIR = '.sluice';

export const registerStatus = (program: Command): void => {
  program
    .command('status')
    .description('per (app, target): the deployed commit, its state and when it changed')
    .option('--workdir <dir>', 'the working directory of `sluice dev`', DEFAULT_WORKDIR)
    .option('--json', 'print JSON: {"deployments":[{app,target,commit,state,updatedAt}]}')
    .action(async (options: { workdir: string; json?: boolean }) => {
      const ledger = new FileLedger(workdirPaths(path.resolve(options.workdir)).ledger);
      const records = await ledger.listDeployments();
      if (options.json) {
        const deployments = records.map((r) => ({
          app: r.app,
          target: r.target,
          commit: r.commit,
          state: r.state,
          updatedAt: r.updatedAt,
          generation: r.generation,
          digest: r.digest,
          ...(r.reason ? { reason: r.reason } : {}),
          ...(r.lastKnownGood ? { lastKnownGood: r.lastKnownGood.commit } : {}),
        }));
        console.log(JSON.stringify({ deployments }, null, 2));
        return;
      }
      if (records.length === 0) {
        console.log(`No deployments recorded in ${options.workdir} yet. Is \`sluice dev\` running there?`);
        return;
      }
      const rows = records.map((r) => [
        r.app,
        r.target,
        r.commit.slice(0, 7),
        r.state,
        r.updatedAt,
        r.reason ?? '',
      ]);
      const header = ['APP', 'TARGET', 'COMMIT', 'STATE', 'UPDATED', 'REASON'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
      for (const row of [header, ...rows]) {
        console.log(
          row
            .map((cell, i) => cell.padEnd(widths[i] ?? 0))
            .join('  ')
            .trimEnd(),
        );
      }
    });
};
