/**
 * Issue 19: `sluice dev --aws --trust FILE` — the pipeline on the emulator checks commit signatures
 * at plan time as `sluice dev` does. Real SSH signatures made by `git commit -S` with
 * `gpg.format=ssh` and ssh-keygen keys, pushed to the real git server. Reverts are signed through
 * the AWS adapters: Sluice's commit-signing key is a seed in Secrets Manager, as the deployed
 * stack keeps it (generated on first start here), and `sluice trust sluice-key --aws` prints it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { startAwsDev } from '../../cli/commands/dev.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import type { DeploymentRecord, KubeObject } from '../../shared/ports/index.ts';
import { waitFor } from '../support/dev-harness.ts';
import { helloConfigMap, putAlarmEvent, SEED_TARGET, writeSeedFleet } from '../support/emulator-deploy.ts';
import { recordWhere } from '../support/wait.ts';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/sluice.mjs');
const ALARM = 'hello-trusted-dev-aws-errors';
const PREFIX = 'sluice-trust-dev';

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
  const at = (check: (r: DeploymentRecord) => boolean, what: string) => recordWhere(hello, check, what);
  /** The attribution annotations of the hello ConfigMap on the target. */
  const attribution = async () =>
    (
      parse(
        await readFile(
          join(work, '.sluice', 'targets', SEED_TARGET, 'hello', 'configmap.hello.yaml'),
          'utf8',
        ),
      ) as KubeObject
    ).metadata.annotations;
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
      [
        'signers:',
        '  - name: alice',
        `    ssh: ${alice}`,
        '  - name: sluice',
        '    sluice: true',
        'rules:',
        '  - targets: {}',
        '    signers: [alice, sluice]',
        '',
      ].join('\n'),
    );
    await writeSeedFleet(join(work, 'seed'), '000000000000', { alarms: [ALARM] });
    dev = await startAwsDev(
      {
        workdir: join(work, '.sluice'),
        port: 0,
        gitPort: 0,
        seed: join(work, 'seed'),
        coalesceMs: 1000,
        reconcileSeconds: 300,
        awsPrefix: PREFIX,
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

  it('signs the revert with the key in Secrets Manager, which git and the trust policy accept', async () => {
    // GIVEN the key's seed in Secrets Manager, as the management stack keeps it (no key on disk)
    const aws = { region: inject('awsRegion'), endpoint: inject('awsEndpoint') };
    const seed = await new SecretsManagerStore({ aws }).get(`aws-sm://${PREFIX}/commit-signing-key#seed`);
    expect(seed.length).toBeGreaterThanOrEqual(32);
    // AND hello Healthy at a good commit alice signed, then at a bad one she signed too
    const good = await push('hello, good release', join(work, 'alice'));
    await at((r) => r.commit === good && r.state === 'Healthy', 'hello Healthy at the good commit');
    const bad = await push('hello, bad release', join(work, 'alice'));
    await at((r) => r.commit === bad && r.state === 'Healthy', 'hello Healthy at the bad commit');

    // WHEN CloudWatch puts the mapped alarm's ALARM state change on the default bus
    await putAlarmEvent(aws, ALARM);

    // THEN hello runs the good bundle again, and its objects say so: alice's commit and signature
    await at((r) => r.state === 'RolledBack' && r.rollbackOf === bad, 'hello RolledBack');
    expect(await attribution()).toMatchObject({ 'sluice.dev/commit': good, 'sluice.dev/signed-by': 'alice' });

    // AND the revert on main is signed by the key `sluice trust sluice-key --aws` prints
    const revert = await waitFor(
      'the revert commit',
      async () => {
        await git('pull', '--quiet', '--ff-only', 'origin', 'main');
        const body = await git('log', '-1', '--format=%B');
        return body.includes(`Sluice-Revert-Of: ${bad}`) ? git('rev-parse', 'HEAD') : undefined;
      },
      60_000,
    );
    const outputs = join(work, '.sluice', 'state', 'aws-outputs.json');
    const printed = (
      await run(process.execPath, [BIN, 'trust', 'sluice-key', '--aws', '--outputs-file', outputs], {
        env: { ...process.env, AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: aws.region },
      })
    ).stdout.trim();
    expect(printed).toMatch(/^ssh-ed25519 AAAA\S+ sluice$/);
    expect(printed).not.toContain(seed);
    const allowed = join(work, 'allowed_signers');
    await writeFile(allowed, `sluice@localhost ${printed}\n`);
    expect(
      await git('-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'log', '-1', '--format=%G?', revert),
    ).toBe('G');

    // AND the trust policy lets the revert deploy, as a no-op that keeps the good release's attribution
    const deployed = await at((r) => r.commit === revert && r.state !== 'Pending', 'hello at the revert');
    expect(deployed).toMatchObject({ state: 'RolledBack' });
    expect(lines.some((l) => l.includes(revert.slice(0, 7)) && /untrusted|unsigned/.test(l))).toBe(false);
    expect(await attribution()).toMatchObject({ 'sluice.dev/commit': good, 'sluice.dev/signed-by': 'alice' });
  }, 240_000);
});
