/**
 * Progressive delivery on the deployed stacks: `cdk deploy` of the real ManagementStack (with the
 * rollout queue and function) and one regional stack into an emulator that runs Lambda code
 * (ministack, started here; or AWS_ENDPOINT_URL), a signed push POSTed to the deployed webhook API,
 * and an app in two waves: the deployed dispatch holds the second wave's request, the rollout
 * function sends the canary's, waits out its bake on a delayed message, then sends the rest.
 */
import { execFile } from 'node:child_process';
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
  writeTwoWaveFleet,
} from '../support/emulator-deploy.ts';
import { waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const ACCOUNT = '000000000000';
const CANARY = 'e2e-canary';
const FLEET = 'e2e-fleet';
const BAKE_SECONDS = 3;

describe('progressive delivery on the deployed stacks (emulator running Lambda code)', () => {
  let fleet: DeployedFleet;
  /** Each Apply Requested the agent took, with when. */
  const applies: { target: string; commit: string; at: number }[] = [];

  beforeAll(async () => {
    fleet = await deployFleet({
      prefix: 'sluice-rollout-deployed-',
      account: ACCOUNT,
      writeSeed: (dir) =>
        writeTwoWaveFleet(dir, {
          canary: CANARY,
          fleet: FLEET,
          bakeSeconds: BAKE_SECONDS,
          greeting: 'hello in waves',
        }),
      onApply: (detail) =>
        applies.push({ target: detail.target.name, commit: detail.commit, at: Date.now() }),
    });
  }, 600_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  it('sends the canary first, bakes it on a delayed message, then the second wave', async () => {
    // GIVEN the deployed stacks and a config repo whose app rolls out in two waves
    const { aws, deployed, git, work } = fleet;
    const management = deployed.outputs.SluiceManagement!;
    expect(management.RolloutQueueUrl).toBeDefined();
    const { url, secret } = await deployedWebhook(aws, management);
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

    // WHEN the push reaches the deployed webhook API
    expect((await sendWebhook({ url, secret, event: 'push', payload })).status).toBe(202);

    // THEN the canary is Healthy while the second wave has not been sent (it bakes)
    const ledger = new S3Ledger({ bucket: management.BundleBucket!, aws });
    const healthy = (name: string) => async () => {
      const r = await ledger.getDeployment('hello', name);
      return r?.commit === sha && r.state === 'Healthy' ? r : undefined;
    };
    await waitFor('the canary Healthy', healthy(CANARY), 180_000, 200);
    expect(applies.filter((a) => a.target === FLEET)).toEqual([]);
    // AND after the bake the rollout function sends the second wave, which becomes Healthy
    await waitFor('the second wave Healthy', healthy(FLEET), 180_000, 200);
    const canaryAt = applies.find((a) => a.target === CANARY)!.at;
    const fleetAt = applies.find((a) => a.target === FLEET)!.at;
    expect(fleetAt - canaryAt).toBeGreaterThanOrEqual(BAKE_SECONDS * 1000);
    // AND the rollout record completes
    const done = await waitFor(
      'the rollout Completed',
      async () => {
        const r = await ledger.getRollout('local/fleet', 'main', 'hello');
        return r?.state === 'Completed' ? r : undefined;
      },
      60_000,
      200,
    );
    expect(done.dispatched.sort()).toEqual([CANARY, FLEET].sort());
    // The wave-to-wave overhead beyond the bake (docs/progressive-delivery.md), not asserted.
    const bakeUntil = Date.parse(done.waves[0]?.bakeUntil ?? '');
    console.log(JSON.stringify({ metric: 'deployed-wave-to-wave-overhead-ms', value: fleetAt - bakeUntil }));
  }, 420_000);
});
