/**
 * Operating Sluice on AWS (docs/operate.md), played on LocalStack through `sluice dev --aws`: the
 * record and reconcile handlers run there as the Lambdas would, drained in process. The CLI runs as
 * a user runs it — its own process, `--aws`, resources read from the outputs file the dev host writes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAwsDev } from '../../cli/commands/dev.ts';
import { helloConfigMap, SEED_TARGET, writeSeedFleet } from '../support/emulator-deploy.ts';
import { waitFor } from '../support/wait.ts';
import { clients, uniqueName } from './support.ts';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/sluice.mjs');
const git = (cwd: string, ...args: string[]) =>
  run('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', ...args], { cwd });

interface StatusJson {
  deployments: {
    app: string;
    target: string;
    commit?: string;
    state: string;
    newest?: { commit: string; outcome: string; reason?: string };
  }[];
  branches: { repo: string; branch: string; commit: string; outcome: string; reason?: string }[];
}

const POD_LATEST = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: web
      image: nginx:latest
      resources:
        requests: { cpu: 10m, memory: 16Mi }
        limits: { cpu: 10m, memory: 16Mi }
`;

describe('operating a stack: sluice status/trace/redrive --aws (sluice dev --aws on LocalStack)', () => {
  let work: string;
  let clone: string;
  let outputs: string;
  let dev: Awaited<ReturnType<typeof startAwsDev>>;

  const sluice = async (...args: string[]) =>
    (await run(process.execPath, [BIN, ...args, '--aws', '--outputs-file', outputs], { env: process.env }))
      .stdout;
  const status = async (): Promise<StatusJson> => JSON.parse(await sluice('status', '--json')) as StatusJson;
  const hello = async () =>
    (await status()).deployments.find((d) => d.app === 'hello' && d.target === SEED_TARGET);
  const commitAll = async (message: string) => {
    await git(clone, 'add', '-A');
    await git(clone, 'commit', '-qm', message);
    return (await git(clone, 'rev-parse', 'HEAD')).stdout.trim();
  };

  beforeAll(async () => {
    process.env.AWS_ENDPOINT_URL = inject('awsEndpoint');
    process.env.AWS_REGION = inject('awsRegion');
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
    work = await mkdtemp(join(tmpdir(), 'sluice-operate-'));
    await writeSeedFleet(join(work, 'seed'));
    dev = await startAwsDev(
      {
        workdir: join(work, '.sluice'),
        port: 0,
        gitPort: 0,
        seed: join(work, 'seed'),
        coalesceMs: 1000,
        // The schedule of the stack, shortened: each tick puts Reconcile Requested on the reconcile queue.
        reconcileSeconds: 3,
        quiet: true,
        // Its own bus, queues and bucket: other suites run sluice dev --aws on the same emulator.
        awsPrefix: uniqueName('sluice-op'),
      },
      () => undefined,
    );
    outputs = join(work, '.sluice', 'state', 'aws-outputs.json');
    clone = join(work, 'clone');
    await git(work, 'clone', '-q', dev.gitUrl, clone);
    const seed = (await git(clone, 'rev-parse', 'HEAD')).stdout.trim();
    await waitFor(
      'the seed to deploy',
      async () => ((await hello())?.commit === seed ? true : undefined),
      90_000,
      1000,
    );
  }, 180_000);

  afterAll(async () => {
    await dev?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it('shows a release rejected by policy in status --aws and trace --aws', async () => {
    // GIVEN the seed deployed WHEN a commit adds a pod on nginx:latest and is pushed (webhook sent)
    const deployed = (await hello())?.commit;
    await writeFile(join(clone, 'apps', 'hello', 'pod.yaml'), POD_LATEST);
    const rejected = await commitAll('web on latest');
    await git(clone, 'push', '-q', 'origin', 'HEAD:main');

    // THEN status --aws keeps the seed deployed and names the rejected commit with the violation
    const row = await waitFor(
      'the rejection on the record',
      async () => {
        const r = await hello();
        return r?.newest?.commit === rejected && r.newest.outcome === 'Policy Rejected' ? r : undefined;
      },
      60_000,
      1000,
    );
    expect(row.commit).toBe(deployed);
    expect(row.newest?.reason).toContain('no-latest-tag');
    // AND trace --aws tells the push's story down to the rejection
    const story = await sluice('trace', rejected.slice(0, 7));
    expect(story).toMatch(/push .* main@.* pushed/);
    expect(story).toMatch(/rejected .*hello.*policy violation/);
    // AND the text status shows both commits on one line
    const text = await sluice('status');
    expect(text).toMatch(
      new RegExp(
        `hello +${SEED_TARGET} +${deployed?.slice(0, 7)} +Healthy .*${rejected.slice(0, 7)} +Policy Rejected`,
      ),
    );
  }, 120_000);

  it('shows a render failure with the tool’s reason', async () => {
    // GIVEN a kustomization that names a file that does not exist WHEN it is pushed
    await rm(join(clone, 'apps', 'hello', 'pod.yaml'));
    await writeFile(
      join(clone, 'apps', 'hello', 'kustomization.yaml'),
      'resources:\n  - configmap.yaml\n  - missing.yaml\n',
    );
    const broken = await commitAll('kustomize a missing file');
    await git(clone, 'push', '-q', 'origin', 'HEAD:main');

    // THEN status --aws names it Render Failed, with the reason, and trace --aws shows the failure
    const row = await waitFor(
      'the render failure on the record',
      async () => {
        const r = await hello();
        return r?.newest?.commit === broken && r.newest.outcome === 'Render Failed' ? r : undefined;
      },
      60_000,
      1000,
    );
    expect(row.newest?.reason).toMatch(/missing\.yaml/);
    expect(await sluice('trace', broken)).toMatch(/failed .*hello did not render/);
  }, 120_000);

  it('deploys a push whose webhook was lost, through the reconcile consumer', async () => {
    // GIVEN a fix committed and pushed straight into the bare repository: no webhook is sent
    await rm(join(clone, 'apps', 'hello', 'kustomization.yaml'));
    await writeFile(
      join(clone, 'apps', 'hello', 'configmap.yaml'),
      helloConfigMap('found without a webhook'),
    );
    const lost = await commitAll('fix, pushed without a webhook');
    await git(clone, 'push', '-q', join(work, '.sluice', 'git', 'fleet.git'), 'HEAD:main');

    // WHEN the schedule's Reconcile Requested reaches the reconcile consumer
    // THEN the commit deploys, and trace --aws says reconciliation found it
    await waitFor(
      'the lost push to deploy',
      async () => {
        const r = await hello();
        return r?.commit === lost && r.state === 'Healthy' ? true : undefined;
      },
      90_000,
      1000,
    );
    // (the record writes its events in batches over a 5 s window: the trace may trail the ledger)
    const story = await waitFor(
      'the lost push on the record',
      async () => {
        const text = await sluice('trace', lost);
        return /found by the reconciliation poll/.test(text) ? text : undefined;
      },
      30_000,
      1000,
    );
    expect(story).toMatch(/found by the reconciliation poll/);
    const applied = await readFile(
      join(work, '.sluice', 'targets', SEED_TARGET, 'hello', 'configmap.hello.yaml'),
      'utf8',
    );
    expect(applied).toContain('found without a webhook');
  }, 150_000);

  it('moves a dead letter back to its queue with sluice redrive --aws', async () => {
    // GIVEN a Reconcile Requested parked in the reconcile DLQ (as after 5 failed receives)
    const { sqs } = clients();
    const parsed = JSON.parse(await readFile(outputs, 'utf8')) as Record<string, Record<string, string>>;
    const stack = Object.values(parsed)[0]!;
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.ReconcileDlqUrl!,
        MessageBody: JSON.stringify({
          version: '0',
          id: 'parked-1',
          'detail-type': 'Reconcile Requested',
          source: 'sluice',
          time: new Date().toISOString(),
          detail: { schemaVersion: 1, requestedBy: 'test' },
        }),
      }),
    );
    expect(await sluice('redrive', '--list', '--queue', 'reconcile')).toMatch(/reconcile: 1 dead-lettered/);
    // WHEN it is redriven
    const out = await sluice('redrive', '--queue', 'reconcile');
    // THEN it is moved back, and the DLQ is empty
    expect(out).toMatch(/reconcile: 1 message\(s\) moved back/);
    console.log(
      JSON.stringify({ metric: 'redrive-method', value: /\(([a-z-]+)\)\s*$/.exec(out.trim())?.[1] }),
    );
    expect(await sluice('redrive', '--list', '--queue', 'reconcile')).toMatch(/reconcile: 0 dead-lettered/);
  }, 120_000);

  it('puts a manual rollback on the bus with sluice rollback --aws, and the record shows it', async () => {
    // GIVEN hello deployed at the commit reconciliation found
    const current = (await hello())?.commit ?? '';
    // WHEN an operator asks for a rollback against the stack
    const out = await sluice('rollback', '--app', 'hello');
    // THEN the request names the commit, and trace --aws shows it taken from the bus
    expect(out).toContain(`rollback requested: hello on ${SEED_TARGET} from ${current.slice(0, 7)}`);
    await waitFor(
      'the rollback request on the record',
      async () =>
        (await sluice('trace', current)).match(/rollback requested \(manual\)/) ? true : undefined,
      60_000,
      1000,
    );
  }, 120_000);
});
