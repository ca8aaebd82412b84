/**
 * The deployed-stack end-to-end test: `cdk deploy` of the real ManagementStack and one regional
 * agent stack into an emulator that runs Lambda code (ministack, started here; or the endpoint in
 * AWS_ENDPOINT_URL), a signed GitHub push POSTed to the deployed HTTP API, and the push followed
 * by the deployed functions (ingest → plan → render → dispatch) to Apply Requested on the region's
 * agent queue, applied by the project's own queue agent (`sluice agent`'s loop, a directory
 * cluster), and back through the report function to Deployment Succeeded in the ledger.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { ZERO_SHA } from '../../shared/adapters/local/git-server.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import {
  type DeployedFleet,
  deployedWebhook,
  deployFleet,
  SEED_TARGET,
  writeSeedFleet,
} from '../support/emulator-deploy.ts';
import { waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const ACCOUNT = '000000000000';
const TARGET = SEED_TARGET;

describe('the deployed stacks on an emulator that runs Lambda code', () => {
  let fleet: DeployedFleet;
  const applyRequests: { commit: string; target: string }[] = [];

  beforeAll(async () => {
    // One regional stack in the management region: an in-cluster agent, so this test is the agent.
    // The config repo is listed (management.repos): the stack deploys no other repo.
    fleet = await deployFleet({
      prefix: 'sluice-deployed-',
      account: ACCOUNT,
      writeSeed: (dir) => writeSeedFleet(dir, ACCOUNT),
      onApply: (detail) => applyRequests.push({ commit: detail.commit, target: detail.target.name }),
    });
  }, 600_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  it('takes a signed push to the deployed webhook API through to Deployment Succeeded in the ledger', async () => {
    const { aws, deployed, git, work } = fleet;
    // GIVEN the deployed stacks, the webhook secret the stack generated, and a config repo
    const management = deployed.outputs.SluiceManagement!;
    const { url, secret: webhookSecret } = await deployedWebhook(aws, management);
    // (ministack ignores ExcludePunctuation; the length is honoured.)
    expect(webhookSecret).toHaveLength(40);
    const sha = (
      await run('git', ['--git-dir', join(work, 'git', 'fleet.git'), 'rev-parse', 'main'])
    ).stdout.trim();
    const payload = githubPushPayload({
      repo: 'local/fleet',
      cloneUrl: `${git.url}/fleet.git`,
      ref: 'refs/heads/main',
      before: ZERO_SHA,
      after: sha,
      message: 'seed',
    });

    // WHEN the push is POSTed, signed, to the deployed HTTP API
    const started = performance.now();
    const answer = await sendWebhook({ url, secret: webhookSecret, event: 'push', payload });

    // THEN ingest accepts it
    expect(answer.status).toBe(202);
    // AND dispatch put Apply Requested for the target on the region's agent queue
    await waitFor(
      'Apply Requested on the agent queue',
      async () => applyRequests.find((r) => r.commit === sha && r.target === TARGET),
      120_000,
      100,
    );
    // AND the report function recorded the agent's Deployment Succeeded: Healthy in the ledger
    const ledger = new S3Ledger({ bucket: management.BundleBucket!, aws });
    const record = await waitFor(
      'Healthy in the ledger',
      async () => {
        const r = await ledger.getDeployment('hello', TARGET);
        return r?.commit === sha && r.state === 'Healthy' ? r : undefined;
      },
      120_000,
      100,
    );
    const latencyMs = Math.round(performance.now() - started);
    console.log(
      JSON.stringify({
        metric: 'webhook-to-deployment-succeeded-ms',
        value: latencyMs,
        endpoint: aws.endpoint,
      }),
    );
    expect(record.generation).toBeGreaterThanOrEqual(1);
    // AND the manifest is in the target
    const applied = await readFile(join(work, 'targets', TARGET, 'hello', 'configmap.hello.yaml'), 'utf8');
    expect(applied).toContain('hello from the deployed stack');
  }, 300_000);
});
