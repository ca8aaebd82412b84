import type { Command } from 'commander';

export const registerStatus = (program: Command): void => {
  program
    .command('status')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('sluice status is not implemented yet');
    });
};
