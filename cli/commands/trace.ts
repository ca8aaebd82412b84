import type { Command } from 'commander';

export const registerTrace = (program: Command): void => {
  program
    .command('trace')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('sluice trace is not implemented yet');
    });
};
