/**
 * Operating the deployed stacks (docs/operate.md): `cdk deploy` of the real ManagementStack into
 * ministack, which runs the record and reconcile Lambdas. A policy rejection, a render failure and a
 * lost webhook are each visible through `sluice status --aws` / `sluice trace --aws` (DescribeStacks discovery), and
 * the lost push is deployed by the reconcile function without a new webhook. Slow: one deploy.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import {
  type GitServer,
  initBareRepo,
  startGitServer,
  ZERO_SHA,
} from '../../shared/adapters/local/git-server.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import type { AwsSettings } from '../../shared/config/env.ts';
import {
  type DeployedStacks,
  deployedWebhook,
  deployToEmulator,
  helloConfigMap,
  runDirectoryAgent,
  SEED_TARGET,
  singleRegionDeployConfig,
  startLambdaEmulator,
  writeSeedFleet,
} from '../support/emulator-deploy.ts';
import { waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/sluice.mjs');
const ACCOUNT = '000000000000';
const git = (cwd: string, ...args: string[]) =>
  run('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', ...args], { cwd });

interface Row {
  app: string;
  target: string;
  commit?: string;
  state: string;
  newest?: { commit: string; outcome: string; reason?: string };
}

describe('operating the deployed stacks: status and trace --aws, reconcile', () => {
  let aws: AwsSettings & { endpoint: string };
  let stopEmulator: () => Promise<void> = async () => {};
  let deployed: DeployedStacks;
  let server: GitServer;
  let work: string;
  let clone: string;
  let webhook: { url: string; secret: string };
  const agentStop = new AbortController();
  let agentLoop: Promise<void> = Promise.resolve();

  const sluice = async (...args: string[]) =>
    (
      await run(process.execPath, [BIN, ...args, '--aws', '--stack', 'SluiceManagement'], {
        env: { ...process.env, AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: aws.region },
      })
    ).stdout;
  const hello = async () =>
    ((JSON.parse(await sluice('status', '--json')) as { deployments: Row[] }).deployments ?? []).find(
      (d) => d.app === 'hello' && d.target === SEED_TARGET,
    );
  /** Commits and pushes to the git server; the webhook is sent only when asked (else it is "lost"). */
  const push = async (message: string, notify: boolean) => {
    await git(clone, 'add', '-A');
    await git(clone, 'commit', '-qm', message);
    const before = (await git(clone, 'rev-parse', 'origin/main')).stdout.trim();
    await git(clone, 'push', '-q', 'origin', 'HEAD:main');
    const after = (await git(clone, 'rev-parse', 'HEAD')).stdout.trim();
    if (notify) {
      const payload = githubPushPayload({
        repo: 'local/fleet',
        cloneUrl: `${server.url}/fleet.git`,
        ref: 'refs/heads/main',
        before,
        after,
        message,
      });
      expect((await sendWebhook({ ...webhook, event: 'push', payload })).status).toBe(202);
    }
    return after;
  };

  beforeAll(async () => {
    const emulator = await startLambdaEmulator();
    stopEmulator = emulator.stop;
    aws = emulator.aws;
    work = await mkdtemp(join(tmpdir(), 'sluice-operate-deployed-'));
    const seed = join(work, 'seed');
    await writeSeedFleet(seed, ACCOUNT);
    await initBareRepo(join(work, 'git'), 'fleet', seed);
    server = await startGitServer({ root: join(work, 'git') });
    deployed = await deployToEmulator({
      endpoint: aws.endpoint,
      region: aws.region,
      account: ACCOUNT,
      deployConfig: singleRegionDeployConfig(`${server.url}/fleet.git`, ACCOUNT),
    });
    console.log(JSON.stringify({ metric: 'cdk-deploy-ms', ...deployed.ms }));
    agentLoop = runDirectoryAgent({
      aws,
      bucket: deployed.outputs.SluiceManagement!.BundleBucket!,
      queueUrl: deployed.outputs[`SluiceAgent-${ACCOUNT}-${aws.region}`]!.AgentQueueUrl!,
      targetsDir: join(work, 'targets'),
      signal: agentStop.signal,
    });
    webhook = await deployedWebhook(aws, deployed.outputs.SluiceManagement!);
    clone = join(work, 'clone');
    await git(work, 'clone', '-q', `${server.url}/fleet.git`, clone);
    // The seed, by webhook.
    const seedSha = (await git(clone, 'rev-parse', 'HEAD')).stdout.trim();
    const payload = githubPushPayload({
      repo: 'local/fleet',
      cloneUrl: `${server.url}/fleet.git`,
      ref: 'refs/heads/main',
      before: ZERO_SHA,
      after: seedSha,
      message: 'seed',
    });
    expect((await sendWebhook({ ...webhook, event: 'push', payload })).status).toBe(202);
    await waitFor(
      'the seed to deploy',
      async () => ((await hello())?.state === 'Healthy' ? true : undefined),
      180_000,
      2000,
    );
  }, 900_000);

  afterAll(async () => {
    agentStop.abort();
    await agentLoop.catch(() => undefined);
    await server?.close();
    await stopEmulator();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it('shows a release rejected by policy, kept by the record function', async () => {
    // GIVEN the seed deployed WHEN a pod on nginx:latest is pushed (webhook sent)
    await writeFile(
      join(clone, 'apps', 'hello', 'pod.yaml'),
      'apiVersion: v1\nkind: Pod\nmetadata: { name: web }\nspec:\n  containers:\n    - name: web\n      image: nginx:latest\n      resources: { requests: { cpu: 10m, memory: 16Mi }, limits: { cpu: 10m, memory: 16Mi } }\n',
    );
    const rejected = await push('web on latest', true);
    // THEN status --aws on the deployed stack names it, rejected, with the policy
    const row = await waitFor(
      'the rejection on the record',
      async () => {
        const r = await hello();
        return r?.newest?.commit === rejected && r.newest.outcome === 'Policy Rejected' ? r : undefined;
      },
      120_000,
      2000,
    );
    expect(row.state).toBe('Healthy');
    expect(row.newest?.reason).toContain('no-latest-tag');
    expect(await sluice('trace', rejected.slice(0, 7))).toMatch(/rejected .*hello.*policy violation/);
  }, 180_000);

  it('shows a render failure with its reason', async () => {
    // GIVEN a manifest that is not YAML WHEN it is pushed (webhook sent). Not a kustomize failure as in
    // operate-dev-aws: ministack runs the render function without its kubectl layer under /opt.
    await rm(join(clone, 'apps', 'hello', 'pod.yaml'));
    await writeFile(join(clone, 'apps', 'hello', 'broken.yaml'), 'kind: [unclosed\n');
    const broken = await push('a manifest that does not parse', true);
    // THEN status --aws names it Render Failed with the reason, and trace --aws shows it
    const row = await waitFor(
      'the render failure on the record',
      async () => {
        const r = await hello();
        return r?.newest?.commit === broken && r.newest.outcome === 'Render Failed' ? r : undefined;
      },
      120_000,
      2000,
    );
    expect(row.newest?.reason).toMatch(/broken\.yaml/);
    expect(await sluice('trace', broken)).toMatch(/failed .*hello did not render/);
  }, 180_000);

  it('deploys a push whose webhook was lost once the reconcile function runs', async () => {
    // GIVEN a fix pushed with no webhook
    await rm(join(clone, 'apps', 'hello', 'broken.yaml'));
    await writeFile(
      join(clone, 'apps', 'hello', 'configmap.yaml'),
      helloConfigMap('reconciled on the stack'),
    );
    const lost = await push('fix without a webhook', false);
    // WHEN the schedule's event reaches the bus (put here: the emulator's scheduler does not fire)
    await new EventBridgeClient(clientConfig(aws)).send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: 'sluice',
            Source: 'sluice',
            DetailType: 'Reconcile Requested',
            Detail: JSON.stringify({ schemaVersion: 1, requestedBy: 'schedule' }),
          },
        ],
      }),
    );
    // THEN the reconcile function publishes the missed push and it deploys
    await waitFor(
      'the lost push to deploy',
      async () => {
        const r = await hello();
        return r?.commit === lost && r.state === 'Healthy' ? true : undefined;
      },
      180_000,
      2000,
    );
    // (the record function takes its events in batches over a 5 s window: the trace may trail)
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
  }, 240_000);
});
