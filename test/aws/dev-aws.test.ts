/**
 * `sluice dev --aws`: the local pipeline on the emulator (EventBridge, SQS, S3, Secrets Manager)
 * with the same handlers, a real git server and signed webhooks.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAwsDev } from '../../cli/commands/dev.ts';
import { helloConfigMap, SEED_TARGET, writeSeedFleet } from '../support/emulator-deploy.ts';

const run = promisify(execFile);
const git = (cwd: string, ...args: string[]) =>
  run('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', ...args], { cwd });

const healthyAt = async (
  dev: Awaited<ReturnType<typeof startAwsDev>>,
  commit: string,
  timeoutMs = 60_000,
) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const record = await dev.pipeline.ledger.getDeployment('hello', SEED_TARGET);
    if (record?.commit === commit && record.state === 'Healthy') return record;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`hello@${SEED_TARGET} not Healthy at ${commit} in ${timeoutMs} ms`);
};

describe('sluice dev --aws (the local pipeline on the emulator)', () => {
  let work: string;
  let dev: Awaited<ReturnType<typeof startAwsDev>>;
  const lines: string[] = [];

  beforeAll(async () => {
    process.env.AWS_ENDPOINT_URL = inject('awsEndpoint');
    process.env.AWS_REGION = inject('awsRegion');
    work = await mkdtemp(join(tmpdir(), 'sluice-dev-aws-'));
    await writeSeedFleet(join(work, 'seed'));
    dev = await startAwsDev(
      {
        workdir: join(work, '.sluice'),
        port: 0,
        gitPort: 0,
        seed: join(work, 'seed'),
        coalesceMs: 1000,
        reconcileSeconds: 300,
      },
      (line) => lines.push(line),
    );
  }, 120_000);

  afterAll(async () => {
    await dev?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it('deploys the seed commit and a pushed change through the emulator', async () => {
    // GIVEN `sluice dev --aws` started on a fresh repo: the seed is found by reconciliation
    const clone = join(work, 'clone');
    await git(work, 'clone', dev.gitUrl, clone);
    const seed = (await git(clone, 'rev-parse', 'HEAD')).stdout.trim();
    await healthyAt(dev, seed);

    // WHEN a change is pushed to the git server (which sends the signed webhook)
    await writeFile(join(clone, 'apps', 'hello', 'configmap.yaml'), helloConfigMap('hello again'));
    await git(clone, 'commit', '-am', 'greet again');
    const started = performance.now();
    await git(clone, 'push', 'origin', 'HEAD:main');
    const pushed = (await git(clone, 'rev-parse', 'HEAD')).stdout.trim();

    // THEN the ledger in S3 says Healthy at the pushed commit and the target holds the change
    await healthyAt(dev, pushed);
    console.log(
      JSON.stringify({
        metric: 'dev-aws-push-to-healthy-ms',
        value: Math.round(performance.now() - started),
      }),
    );
    const applied = await readFile(
      join(work, '.sluice', 'targets', SEED_TARGET, 'hello', 'configmap.hello.yaml'),
      'utf8',
    );
    expect(applied).toContain('hello again');
    // AND the bus's events reached the printer through the events queue
    expect(lines.some((line) => line.includes(pushed.slice(0, 7)))).toBe(true);
  }, 180_000);
});
