import { Command, CommanderError } from 'commander';
import { isSluiceError } from '../shared/errors.ts';
import { printableLines } from '../shared/printable.ts';
import { registerAgent } from './commands/agent.ts';
import { registerAlarm } from './commands/alarm.ts';
import { registerApprove } from './commands/approve.ts';
import { registerDev } from './commands/dev.ts';
import { registerImport } from './commands/import.ts';
import { registerRedrive } from './commands/redrive.ts';
import { registerRender } from './commands/render.ts';
import { registerRollback } from './commands/rollback.ts';
import { registerStatus } from './commands/status.ts';
import { registerTrace } from './commands/trace.ts';
import { registerTrust } from './commands/trust.ts';
import { registerUi } from './commands/ui.ts';
import { registerValidate } from './commands/validate.ts';
import { registerWebhookCommand } from './commands/webhook.ts';

const program = new Command('sluice')
  .description('Event-driven, serverless GitOps delivery for fleets of Kubernetes clusters')
  .showHelpAfterError()
  .exitOverride();

registerDev(program);
registerAgent(program);
registerStatus(program);
registerTrace(program);
registerRollback(program);
registerRedrive(program);
registerAlarm(program);
registerApprove(program);
registerRender(program);
registerValidate(program);
registerImport(program);
registerWebhookCommand(program);
registerUi(program);
registerTrust(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (isSluiceError(error)) {
    console.error(`sluice: ${printableLines(error.message)}`);
    process.exitCode = 2;
  } else {
    console.error(
      `sluice: unexpected error: ${printableLines(error instanceof Error ? error.message : String(error))}`,
    );
    process.exitCode = 2;
  }
}
