/**
 * Issue 19: reverts written through the AWS adapters are signed. `sluice dev --aws --trust FILE`
 * keeps Sluice's commit-signing key as the deployed stack does, as a seed in Secrets Manager on the
 * emulator (generated on first start). An alarm rolls back a release signed by alice; the revert
 * commit that rollback pushes is signed with that key, git verifies it against the public key that
 * `sluice trust sluice-key --aws` prints, and the trust policy lets it deploy. The objects the
 * rollback re-applies are attributed to the known-good commit and its signer.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { startAwsDev } from '../../cli/commands/dev.ts';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { cloudWatchAlarmEvent } from '../../shared/core/alarms.ts';
import type { DeploymentRecord, KubeObject } from '../../shared/ports/index.ts';
import { waitFor } from '../support/dev-harness.ts';
import { helloConfigMap, SEED_TARGET, writeSeedFleet } from '../support/emulator-deploy.ts';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/sluice.mjs');
const ALARM = 'hello-signed-revert-errors';
const PREFIX = 'sluice-signed-revert';

describe('rollback reverts signed with the key in Secrets Manager (sluice dev --aws --trust)', () => {
  let work: string;
  let clone: string;
  let dev: Awaited<ReturnType<typeof startAwsDev>>;
  const lines: string[] = [];
  const git = async (...args: string[]) =>
    (
      await run('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', ...args], { cwd: clone })
    ).stdout.trim();
  const hello = (): Promise<DeploymentRecord | undefined> =>
    dev.pipeline.ledger.getDeployment('hello', SEED_TARGET);
  const at = (check: (r: DeploymentRecord) => boolean, what: string) =>
    waitFor(
      what,
      async () => {
        const r = await hello();
        return r && check(r) ? r : undefined;
      },
      60_000,
    );
  /** Changes the hello ConfigMap, commits it signed by alice (gpg.format=ssh) and pushes it. */
  const pushSigned = async (greeting: string) => {
    await writeFile(join(clone, 'apps', 'hello', 'configmap.yaml'), helloConfigMap(greeting));
    const key = join(work, 'alice');
    await git(
      '-c',
      'gpg.format=ssh',
      '-c',
      `user.signingkey=${key}`,
      'commit',
      '--quiet',
      '-S',
      '-am',
      greeting,
    );
    await git('push', '--quiet', 'origin', 'HEAD:main');
    return git('rev-parse', 'HEAD');
  };

  beforeAll(async () => {
    process.env.AWS_ENDPOINT_URL = inject('awsEndpoint');
    process.env.AWS_REGION = inject('awsRegion');
    work = await mkdtemp(join(tmpdir(), 'sluice-signed-revert-'));
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(work, 'alice')]);
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

  it('signs the revert with the stored key, which git and the trust policy accept', async () => {
    // GIVEN the key's seed in Secrets Manager, as the management stack keeps it (no key on disk)
    const stored = await new SecretsManagerStore({
      aws: { region: inject('awsRegion'), endpoint: inject('awsEndpoint') },
    }).get(`aws-sm://${PREFIX}/commit-signing-key#seed`);
    expect(stored.length).toBeGreaterThanOrEqual(32);
    // AND hello Healthy at a good commit alice signed, then at a bad one she signed too
    const good = await pushSigned('hello, good release');
    await at((r) => r.commit === good && r.state === 'Healthy', 'hello Healthy at the good commit');
    const bad = await pushSigned('hello, bad release');
    await at((r) => r.commit === bad && r.state === 'Healthy', 'hello Healthy at the bad commit');

    // WHEN CloudWatch puts the mapped alarm's ALARM state change on the default bus
    const aws = { region: inject('awsRegion'), endpoint: inject('awsEndpoint') };
    const event = cloudWatchAlarmEvent({ id: randomUUID(), name: ALARM, at: new Date(), region: aws.region });
    const out = await new EventBridgeClient(clientConfig(aws)).send(
      new PutEventsCommand({
        Entries: [
          {
            Source: event.source,
            DetailType: event['detail-type'],
            Detail: JSON.stringify(event.detail),
            Resources: event.resources,
          },
        ],
      }),
    );
    expect(out.FailedEntryCount ?? 0).toBe(0);

    // THEN hello runs the good bundle again, and its objects say so: alice's commit and signature
    await at((r) => r.state === 'RolledBack' && r.rollbackOf === bad, 'hello RolledBack');
    const applied = join(work, '.sluice', 'targets', SEED_TARGET, 'hello', 'configmap.hello.yaml');
    const annotations = (parse(await readFile(applied, 'utf8')) as KubeObject).metadata.annotations;
    expect(annotations).toMatchObject({ 'sluice.dev/commit': good, 'sluice.dev/signed-by': 'alice' });

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
    const printed = (
      await run(
        process.execPath,
        [
          BIN,
          'trust',
          'sluice-key',
          '--aws',
          '--outputs-file',
          join(work, '.sluice', 'state', 'aws-outputs.json'),
        ],
        { env: { ...process.env, AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: aws.region } },
      )
    ).stdout.trim();
    expect(printed).toMatch(/^ssh-ed25519 AAAA\S+ sluice$/);
    expect(printed).not.toContain(stored);
    const allowed = join(work, 'allowed_signers');
    await writeFile(allowed, `sluice@localhost ${printed}\n`);
    expect(
      await git('-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'log', '-1', '--format=%G?', revert),
    ).toBe('G');

    // AND the trust policy lets the revert deploy: planned, not refused, and a no-op on the target
    const deployed = await at((r) => r.commit === revert && r.state !== 'Pending', 'hello at the revert');
    expect(deployed).toMatchObject({ state: 'RolledBack' });
    expect(lines.some((l) => l.includes(revert.slice(0, 7)) && /untrusted|unsigned/.test(l))).toBe(false);
    const after = (parse(await readFile(applied, 'utf8')) as KubeObject).metadata.annotations;
    expect(after).toMatchObject({ 'sluice.dev/commit': good, 'sluice.dev/signed-by': 'alice' });
  }, 240_000);
});
