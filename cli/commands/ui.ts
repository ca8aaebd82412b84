import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { controlEnvelope, sendToDev } from '../../shared/adapters/local/control-server.ts';
import { awsBus, openAws, openReader, readerFor, type TargetFlags, targetOptions } from '../operate.ts';
import { startUiServer } from '../runtime/ui-server.ts';

/**
 * `sluice ui [--aws]`: the dashboard on the operator's machine, reading what `sluice status` reads
 * (a `sluice dev` workdir, or a deployed stack's bucket with the caller's credentials), polled; no
 * new AWS resource. Rollback and approve go where `sluice rollback|approve` send them.
 */
export const registerUi = (program: Command): void => {
  targetOptions(
    program
      .command('ui')
      .description('the fleet dashboard for a sluice dev workdir or (--aws) a deployed stack, on 127.0.0.1'),
  )
    .option('--port <n>', 'port on 127.0.0.1 (0 = any free port)', (v: string) => Number(v), 7423)
    .option('--read-only', 'show the fleet, offer no rollback or approve')
    .option('--poll-seconds <n>', 'how often the record is read for changes', (v: string) => Number(v), 5)
    .action(async (options: TargetFlags & { port: number; readOnly?: boolean; pollSeconds: number }) => {
      const access = options.aws ? await openAws(options) : undefined;
      const reader = access ? readerFor(access) : undefined;
      const ui = await startUiServer({
        // Local: opened afresh per read, since `sluice dev` (another process) writes the files.
        reader: reader ?? (() => openReader(options)),
        pollMs: Math.max(1, options.pollSeconds) * 1000,
        token: randomBytes(32).toString('hex'),
        user: userInfo().username,
        port: options.port,
        ...(options.readOnly ? { readOnly: true } : {}),
        rollback: async (requests) => {
          if (access) {
            await awsBus(access).publish(
              requests.map((detail) => ({ detailType: 'Rollback Requested', detail })),
            );
          } else
            await sendToDev(
              options.workdir,
              requests.map((r) => controlEnvelope('Rollback Requested', r)),
            );
        },
        approve: async (approvals) => {
          if (access) {
            await awsBus(access).publish(
              approvals.map((detail) => ({ detailType: 'Rollout Approved', detail })),
            );
          } else
            await sendToDev(
              options.workdir,
              approvals.map((a) => controlEnvelope('Rollout Approved', a)),
            );
        },
      });
      console.log(
        `ui: ${ui.url}${options.readOnly ? ' (read-only)' : ''} reading ${options.aws ? 'the stack' : options.workdir}`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => void ui.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
};
