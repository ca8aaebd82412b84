import type { Command } from 'commander';

export const registerValidate = (program: Command): void => {
  program
    .command('validate')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('sluice validate is not implemented yet');
    });
};
