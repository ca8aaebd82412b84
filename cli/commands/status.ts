import type { Command } from 'commander';
import { type StatusRow, statusRows } from '../../shared/core/history.ts';
import { type RolloutView, rolloutViews } from '../../shared/core/rollout.ts';
import type { BranchOutcome } from '../../shared/ports/index.ts';
import { printable } from '../../shared/printable.ts';
import { DEFAULT_WORKDIR, openReader, type TargetFlags, targetOptions } from '../operate.ts';

export { DEFAULT_WORKDIR };

const short = (sha: string | undefined) => (sha ? sha.slice(0, 7) : '');

/** `--json`: one object per (app, target); `newest` is the newest planned commit and its outcome. */
const rowJson = (r: StatusRow) => ({
  app: r.app,
  target: r.target,
  ...(r.deployed
    ? {
        commit: r.deployed.commit,
        state: r.deployed.state,
        updatedAt: r.deployed.updatedAt,
        generation: r.deployed.generation,
        digest: r.deployed.digest,
        ...(r.deployed.reason ? { reason: r.deployed.reason } : {}),
        ...(r.deployed.lastKnownGood ? { lastKnownGood: r.deployed.lastKnownGood.commit } : {}),
      }
    : { state: 'NotDeployed' }),
  ...(r.newest
    ? {
        newest: {
          commit: r.newest.commit,
          outcome: r.newest.outcome,
          traceId: r.newest.traceId,
          at: r.newest.at,
          ...(r.newest.reason ? { reason: r.newest.reason } : {}),
        },
      }
    : {}),
});

const table = (header: string[], raw: string[][], print: (line: string) => void) => {
  // App, target, repo, branch and reason come from pushes: escaped, so they cannot drive the terminal.
  const rows = raw.map((row) => row.map((cell) => printable(cell)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  for (const row of [header, ...rows]) {
    print(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  }
};

/** The same lines for a local `sluice dev` and a deployed stack. */
export const printStatus = (
  rows: readonly StatusRow[],
  branches: readonly BranchOutcome[],
  print: (line: string) => void,
): void => {
  table(
    ['APP', 'TARGET', 'COMMIT', 'STATE', 'UPDATED', 'NEWEST', 'OUTCOME', 'REASON'],
    rows.map((r) => [
      r.app,
      r.target,
      short(r.deployed?.commit),
      r.deployed?.state ?? 'NotDeployed',
      r.deployed?.updatedAt ?? '',
      short(r.newest?.commit),
      r.newest?.outcome ?? '',
      (r.newest?.reason ?? r.deployed?.reason ?? '').split('\n')[0] ?? '',
    ]),
    print,
  );
  if (branches.length === 0) return;
  print('');
  table(
    ['REPO', 'BRANCH', 'NEWEST', 'OUTCOME', 'AT', 'REASON'],
    [...branches]
      .sort((a, b) => a.repo.localeCompare(b.repo) || a.branch.localeCompare(b.branch))
      .map((b) => [
        b.repo,
        b.branch,
        short(b.commit),
        b.outcome,
        b.at,
        (b.reason ?? '').split('\n')[0] ?? '',
      ]),
    print,
  );
};

/** Each app's rollout: where it stands, wave by wave (docs/progressive-delivery.md). */
export const printRollouts = (rollouts: readonly RolloutView[], print: (line: string) => void): void => {
  if (rollouts.length === 0) return;
  print('');
  table(
    ['APP', 'COMMIT', 'ROLLOUT', 'WAVE', 'WAVES', 'REASON'],
    rollouts.map((r) => [
      r.app,
      short(r.commit),
      r.state,
      r.wave,
      r.waves.map((w) => `${w.name}:${w.state}`).join(' '),
      (r.reason ?? '').split('\n')[0] ?? '',
    ]),
    print,
  );
};

export const registerStatus = (program: Command): void => {
  targetOptions(
    program
      .command('status')
      .description(
        'per (app, target): the deployed commit and its state, and the newest planned commit with its outcome and why it did not deploy',
      ),
  )
    .option('--app <name>', 'only this app')
    .option('--target <name>', 'only this target')
    .option(
      '--json',
      'print JSON: {"deployments":[{app,target,commit,state,updatedAt,newest:{commit,outcome,reason}}],"branches":[…],"rollouts":[{app,commit,wave,state,…}]}',
    )
    .action(async (options: TargetFlags & { json?: boolean; app?: string; target?: string }) => {
      const reader = await openReader(options);
      const [deployments, newest, allRollouts] = await Promise.all([
        reader.ledger.listDeployments(),
        reader.history.newest(),
        rolloutViews(reader.ledger),
      ]);
      const rows = statusRows(deployments, newest.targets, options);
      const rollouts = allRollouts.filter((r) => !options.app || r.app === options.app);
      if (options.json) {
        console.log(
          JSON.stringify({ deployments: rows.map(rowJson), branches: newest.branches, rollouts }, null, 2),
        );
        return;
      }
      if (rows.length === 0 && newest.branches.length === 0) {
        console.log(
          options.aws
            ? `Nothing recorded in ${reader.where} yet. Has a push reached the stack?`
            : `No deployments recorded in ${options.workdir} yet. Is \`sluice dev\` running there?`,
        );
        return;
      }
      printStatus(rows, newest.branches, (line) => console.log(line));
      printRollouts(rollouts, (line) => console.log(line));
    });
};
