import type { Command } from 'commander';
import { queueDepth, redriveQueue } from '../../shared/adapters/aws/sqs-redrive.ts';
import { BadInputError } from '../../shared/errors.ts';
import { openAws, sqsClient, type TargetFlags, targetOptions } from '../operate.ts';

/**
 * `sluice redrive --aws`: what the dead-letter queues hold goes back to the queues they serve, once
 * the cause (a dependency that was down past its retries) is fixed. Each consumer is idempotent,
 * so a message that already succeeded elsewhere changes nothing. EventBridge's own delivery DLQ is
 * not a queue's DLQ: its events are left for `--list` and docs/operate.md.
 */
export const registerRedrive = (program: Command): void => {
  targetOptions(
    program
      .command('redrive')
      .description("move dead-lettered messages back to their queues (a deployed stack's, with --aws)"),
  )
    .option(
      '--queue <name>',
      'only this consumer (plan, render, dispatch, report, rollback, record, reconcile)',
    )
    .option('--list', 'only show how many messages each dead-letter queue holds')
    .action(async (options: TargetFlags & { queue?: string; list?: boolean }) => {
      if (!options.aws) {
        throw new BadInputError(
          'sluice redrive',
          'works on a stack (--aws): `sluice dev` retries in process and keeps no dead letters across restarts',
          'pass --aws (and --stack, --region or --outputs-file)',
        );
      }
      const access = await openAws(options);
      const sqs = sqsClient(access);
      const { queues, deadLetterQueues } = access.resources;
      const names = Object.keys(deadLetterQueues).filter((name) => queues[name] !== undefined);
      if (options.queue !== undefined && !names.includes(options.queue)) {
        throw new BadInputError(
          `--queue ${options.queue}`,
          'has no dead-letter queue in the stack',
          `use one of ${names.join(', ')}`,
        );
      }
      for (const name of options.queue ? [options.queue] : names) {
        const deadLetterUrl = deadLetterQueues[name]!;
        if (options.list) {
          console.log(`${name}: ${await queueDepth(sqs, deadLetterUrl)} dead-lettered`);
          continue;
        }
        const result = await redriveQueue(sqs, { deadLetterUrl, queueUrl: queues[name]! });
        console.log(`${name}: ${result.moved} message(s) moved back (${result.method})`);
      }
    });
};
