import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { sendToDev } from '../../shared/adapters/local/control-server.ts';
import { cloudWatchAlarmEvent } from '../../shared/core/alarms.ts';
import { BadInputError } from '../../shared/errors.ts';
import { DEFAULT_WORKDIR } from './status.ts';

const STATES = ['ALARM', 'OK', 'INSUFFICIENT_DATA'] as const;

const parseTag = (value: string, tags: Record<string, string> = {}) => {
  const eq = value.indexOf('=');
  if (eq < 1) throw new BadInputError(`--tag ${value}`, 'is not KEY=VALUE', 'pass e.g. --tag team=payments');
  return { ...tags, [value.slice(0, eq)]: value.slice(eq + 1) };
};

/**
 * `sluice alarm`: puts a CloudWatch "Alarm State Change" event, shaped exactly as CloudWatch sends
 * it to EventBridge, on the bus of a running `sluice dev`, so alarm-driven rollback can be tried
 * on a laptop.
 */
export const registerAlarm = (program: Command): void => {
  program
    .command('alarm')
    .description('send a CloudWatch alarm state change to a running `sluice dev` (alarm-driven rollback)')
    .requiredOption('--name <alarm>', 'the alarm name, as sluice.yaml apps[].alarms[].name')
    .option('--state <state>', 'ALARM, OK or INSUFFICIENT_DATA', 'ALARM')
    .option('--tag <key=value>', 'an alarm tag (repeatable), sent as detail.alarmTags', parseTag)
    .option('--region <region>', 'the alarm region (part of its ARN)', 'us-east-1')
    .option('--account <id>', 'the alarm account (part of its ARN)', '000000000000')
    .option('--reason <text>', 'the state reason')
    .option('--workdir <dir>', 'the working directory of `sluice dev`', DEFAULT_WORKDIR)
    .action(
      async (options: {
        name: string;
        state: string;
        tag?: Record<string, string>;
        region: string;
        account: string;
        reason?: string;
        workdir: string;
      }) => {
        const state = STATES.find((s) => s === options.state);
        if (!state) {
          throw new BadInputError(
            `--state ${options.state}`,
            'is not an alarm state',
            `use one of ${STATES.join(', ')}`,
          );
        }
        const event = cloudWatchAlarmEvent({
          id: randomUUID(),
          name: options.name,
          at: new Date(),
          state,
          region: options.region,
          account: options.account,
          ...(options.tag ? { tags: options.tag } : {}),
          ...(options.reason ? { reason: options.reason } : {}),
        });
        await sendToDev(options.workdir, [event]);
        console.log(`alarm ${options.name} → ${state} sent (${event.resources[0]})`);
      },
    );
};
