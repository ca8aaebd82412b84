import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, tempDir, waitFor } from '../support/dev-harness.ts';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/sluice.mjs');
const sluice = (...args: string[]) => run(process.execPath, [BIN, ...args], { maxBuffer: 16 * 1024 * 1024 });

interface Status {
  deployments: { app: string; target: string; commit: string; state: string; updatedAt: string }[];
}
const status = async (workdir: string): Promise<Status> =>
  JSON.parse((await sluice('status', '--workdir', workdir, '--json')).stdout) as Status;

describe('sluice dev as a user runs it', () => {
  let child: ChildProcess;
  let workdir: string;
  let output = '';
  let gitUrl = '';

  beforeAll(async () => {
    workdir = await tempDir('cli-dev');
    // GIVEN `sluice dev` started as its own process, on free ports
    child = spawn(
      process.execPath,
      [BIN, 'dev', '--workdir', workdir, '--port', '0', '--git-port', '0', '--coalesce-ms', '300'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitFor('ready', () => (/^ready$/m.test(output) ? true : undefined), 60_000);
    gitUrl = /^git: (\S+)$/m.exec(output)?.[1] ?? '';
  });

  afterAll(async () => {
    child?.kill('SIGTERM');
    await new Promise((resolve) => child?.once('exit', resolve));
    await rm(workdir, { recursive: true, force: true });
  });

  it('prints the clone URL, the webhook URL and ready', () => {
    expect(output).toMatch(/^git: http:\/\/127\.0\.0\.1:\d+\/fleet\.git$/m);
    expect(output).toMatch(/^webhook: http:\/\/127\.0\.0\.1:\d+\/webhooks\/github$/m);
  });

  it('shows a pushed change in the targets, in `sluice status --json` and in `sluice trace`', async () => {
    // GIVEN the seed commit deployed everywhere
    await waitFor('seed deployed', async () => {
      const s = await status(workdir);
      return s.deployments.length > 0 && s.deployments.every((d) => d.state === 'Healthy') ? s : undefined;
    });
    // WHEN a user clones the printed URL, changes an app, commits and pushes
    const clone = path.join(workdir, 'user-clone');
    await git(workdir, 'clone', '--quiet', gitUrl, clone);
    const file = path.join(clone, 'apps/guestbook/configmap.yaml');
    const original = await readFile(file, 'utf8');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(file, original.replace('Sluice guestbook', 'Pushed by a user')),
    );
    await git(clone, 'commit', '--quiet', '-am', 'retitle the guestbook');
    const pushedAt = Date.now();
    await git(clone, 'push', '--quiet', 'origin', 'HEAD:main');
    const sha = await git(clone, 'rev-parse', 'HEAD');
    // THEN within seconds the status says Healthy at that commit for both staging targets
    const s = await waitFor('status Healthy at the pushed commit', async () => {
      const current = await status(workdir);
      const guestbook = current.deployments.filter((d) => d.app === 'guestbook');
      return guestbook.length === 2 && guestbook.every((d) => d.commit === sha && d.state === 'Healthy')
        ? current
        : undefined;
    });
    const pushToHealthyMs = Date.now() - pushedAt;
    console.log(JSON.stringify({ measure: 'push-to-healthy', ms: pushToHealthyMs, coalesceMs: 300 }));
    expect(s.deployments.find((d) => d.app === 'guestbook')?.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const target = await readFile(
      path.join(workdir, 'targets/staging-euw1/guestbook/configmap.guestbook-config.yaml'),
      'utf8',
    );
    expect(target).toContain('Pushed by a user');
    // AND the trace tells the push's story in order
    const trace = (await sluice('trace', sha.slice(0, 8), '--workdir', workdir)).stdout;
    const steps = trace.split('\n').map((line) => line.slice(14).split(' ')[0]);
    expect(steps.filter(Boolean)).toEqual(
      expect.arrayContaining(['push', 'planned', 'verified', 'dispatch', 'healthy']),
    );
    expect(trace.indexOf('push')).toBeLessThan(trace.indexOf('healthy'));
  });

  it('explains an unknown commit and rejects a malformed one', async () => {
    await expect(sluice('trace', 'deadbeef', '--workdir', workdir)).rejects.toMatchObject({ code: 1 });
    await expect(sluice('trace', 'not-a-sha', '--workdir', workdir)).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/commit "not-a-sha": is not a commit id/),
    });
  });
});
