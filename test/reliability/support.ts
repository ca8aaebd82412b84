/** Shared checks of the reliability suites: convergence, as the ledger, the targets and `sluice status` see it. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { allHealthyAt, type Fleet, until } from '../../bench/lib/fleet.ts';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/sluice.mjs');

/** The applied inventory of `app` on `target`: what the agent wrote to the target itself. */
export const inventoryOf = async (
  fleet: Fleet,
  target: string,
  app: string,
): Promise<{ commit: string; generation: number } | undefined> =>
  readFile(path.join(fleet.pipeline.targetDir(target), '.sluice', 'inventory', `${app}.json`), 'utf8').then(
    (text) => JSON.parse(text) as { commit: string; generation: number },
    () => undefined,
  );

/** Waits until every deployment of each repo is Healthy at the repo's branch head. */
export const convergedToHeads = async (
  fleet: Fleet,
  targetsPerRepo: Record<string, number>,
  timeoutMs = 30_000,
): Promise<void> => {
  for (const [repo, count] of Object.entries(targetsPerRepo)) {
    const head = await fleet.head(repo);
    await until(
      `${repo} at ${head.slice(0, 7)}`,
      () => allHealthyAt(fleet.pipeline, repo, head, count),
      timeoutMs,
    ).catch(async (error: Error) => {
      // Say why: what the ledger holds and what sits in the dead-letter queues.
      const records = (await fleet.pipeline.ledger.listDeployments()).map(
        (r) => `${r.app}@${r.target} ${r.commit.slice(0, 7)} ${r.state} ${r.reason ?? ''}`,
      );
      const parked = [...fleet.pipeline.deadLetters.values()].flatMap((q) =>
        q.peek().map((m) => `${q.name}: ${m.attributes.deadLetterReason}`),
      );
      throw new Error(
        `${error.message}; ledger: ${records.join('; ')}; parked: ${parked.join('; ') || 'none'}`,
      );
    });
  }
  await fleet.pipeline.idle({ timeoutMs });
};

/** What `sluice status --json` (the real CLI, in its own process) says about the workdir. */
export const sluiceStatus = async (
  fleet: Fleet,
): Promise<{ app: string; target: string; commit: string; state: string }[]> => {
  const { stdout } = await run(process.execPath, [BIN, 'status', '--workdir', fleet.workdir, '--json']);
  return (
    JSON.parse(stdout) as { deployments: { app: string; target: string; commit: string; state: string }[] }
  ).deployments;
};
