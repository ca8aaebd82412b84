/**
 * Issue 19: `sluice dev --aws --trust FILE` — the pipeline on the emulator checks commit signatures
 * at plan time as `sluice dev` does. Real SSH signatures made by `git commit -S` with
 * `gpg.format=ssh` and ssh-keygen keys, pushed to the real git server.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAwsDev } from '../../cli/commands/dev.ts';
import { waitFor } from '../support/dev-harness.ts';
import { helloConfigMap, SEED_TARGET, writeSeedFleet } from '../support/emulator-deploy.ts';

const run = promisify(execFile);

describe('sluice dev --aws --trust FILE (the emulator pipeline verifies commit signatures)', () => {
  let work: string;
  let clone: string;
  let dev: Awaited<ReturnType<typeof startAwsDev>>;
  const lines: string[] = [];
  const git = async (...args: string[]) =>
    (
      await run('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', ...args], { cwd: clone })
    ).stdout.trim();
  const hello = () => dev.pipeline.ledger.getDeployment('hello', SEED_TARGET);
  /** Changes the hello ConfigMap, commits it signed with `key` (or unsigned) and pushes it. */
  const push = async (greeting: string, key?: string) => {
    await writeFile(join(clone, 'apps', 'hello', 'configmap.yaml'), helloConfigMap(greeting));
    const sign = key ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`] : [];
    await git(...sign, 'commit', '--quiet', ...(key ? ['-S'] : []), '-am', greeting);
    await git('push', '--quiet', 'origin', 'HEAD:main');
    return git('rev-parse', 'HEAD');
  };

  beforeAll(async () => {
    process.env.AWS_ENDPOINT_URL = inject('awsEndpoint');
    process.env.AWS_REGION = inject('awsRegion');
    work = await mkdtemp(join(tmpdir(), 'sluice-trust-dev-aws-'));
    for (const who of ['alice', 'mallory']) {
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', join(work, who)]);
    }
    const alice = (await readFile(join(work, 'alice.pub'), 'utf8')).trim();
    await writeFile(
      join(work, 'trust.yaml'),
      `signers:\n  - name: alice\n    ssh: ${alice}\nrules:\n  - targets: {}\n    signers: [alice]\n`,
    );
    await writeSeedFleet(join(work, 'seed'));
    dev = await startAwsDev(
      {
        workdir: join(work, '.sluice'),
        port: 0,
        gitPort: 0,
        seed: join(work, 'seed'),
        coalesceMs: 1000,
        reconcileSeconds: 300,
        awsPrefix: 'sluice-trust-dev',
        trust: join(work, 'trust.yaml'),
      },
      (line) => lines.push(line),
    );
    clone = join(work, 'clone');
    await run('git', ['clone', '--quiet', dev.gitUrl, clone]);
  }, 120_000);

  afterAll(async () => {
    await dev?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it('refuses the unsigned seed and a stranger-signed push, and deploys the one alice signed', async () => {
    // GIVEN the unsigned seed commit: refused, nothing deployed
    await waitFor('the seed to be refused', () => lines.find((l) => /unsigned commit/.test(l)), 60_000);
    expect(await hello()).toBeUndefined();
    // WHEN alice pushes a change signed with her SSH key THEN it is Healthy
    const signed = await push('hello from alice', join(work, 'alice'));
    await waitFor(
      'alice’s commit Healthy',
      async () => {
        const r = await hello();
        return r?.commit === signed && r.state === 'Healthy' ? r : undefined;
      },
      60_000,
    );
    // WHEN mallory, whom the policy does not list, pushes THEN it is refused naming the key
    const fingerprint =
      (await run('ssh-keygen', ['-lf', join(work, 'mallory.pub')])).stdout.split(' ')[1] ?? '';
    const stranger = await push('hello from mallory', join(work, 'mallory'));
    await waitFor(
      'mallory’s commit refused',
      () => lines.find((l) => l.includes(`unknown signer ${fingerprint} on commit ${stranger.slice(0, 7)}`)),
      60_000,
    );
    expect((await hello())?.commit).toBe(signed);
  }, 180_000);
});
