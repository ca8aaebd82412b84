import type { Command } from 'commander';

export const registerDev = (program: Command): void => {
  program
    .command('dev')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('sluice dev is not implemented yet');
    });
};
