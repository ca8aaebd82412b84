import type { Command } from 'commander';

export const registerRender = (program: Command): void => {
  program
    .command('render')
    .description('(not implemented yet)')
    .action(() => {
      throw new Error('sluice render is not implemented yet');
    });
};
