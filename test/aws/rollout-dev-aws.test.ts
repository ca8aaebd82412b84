/**
 * Progressive delivery in the pipeline `sluice dev --aws` runs (cli/runtime/aws-pipeline.ts) on
 * LocalStack: two waves, the canary's bake a delayed message on the rollout queue (SqsRolloutTimer),
 * so nothing runs while it bakes; then the second wave takes the commit.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type AwsPipeline, startAwsPipeline } from '../../cli/runtime/aws-pipeline.ts';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { type GitServer, initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import type { AwsSettings } from '../../shared/config/env.ts';
import { rolloutViews } from '../../shared/core/rollout.ts';
import type { CommitPushed } from '../../shared/schemas/events.ts';
import { git, waitFor } from '../support/dev-harness.ts';
import { helloConfigMap, writeTwoWaveFleet } from '../support/emulator-deploy.ts';

const REPO = 'local/fleet';
const CANARY = 'e2e-canary';
const FLEET = 'e2e-fleet';
const BAKE_SECONDS = 4;
const CONFIGMAP = 'apps/hello/configmap.yaml';

describe('progressive delivery in sluice dev --aws (LocalStack)', () => {
  let aws: AwsSettings;
  let work: string;
  let gitServer: GitServer;
  let pipeline: AwsPipeline;
  let clone: string;

  const record = (t: string) => pipeline.ledger.getDeployment('hello', t, REPO);
  const healthyAt = (t: string, sha: string) =>
    waitFor(
      `${t} Healthy at ${sha.slice(0, 7)}`,
      async () => {
        const r = await record(t);
        return r?.commit === sha && r.state === 'Healthy' ? r : undefined;
      },
      60_000,
    );
  const rollout = async (sha: string) =>
    (await rolloutViews(pipeline.ledger)).find((r) => r.app === 'hello' && r.commit === sha);

  beforeAll(async () => {
    aws = { region: inject('awsRegion'), endpoint: inject('awsEndpoint') };
    work = await mkdtemp(join(tmpdir(), 'sluice-rollout-dev-aws-'));
    await writeTwoWaveFleet(join(work, 'seed'), {
      canary: CANARY,
      fleet: FLEET,
      bakeSeconds: BAKE_SECONDS,
      greeting: 'hello from the seed',
    });
    await initBareRepo(join(work, 'git'), 'fleet', join(work, 'seed'));
    const repoUrl = () => `${gitServer.url}/fleet.git`;
    const plan = async (before: string, after: string) => {
      const now = new Date().toISOString();
      const detail: CommitPushed = {
        schemaVersion: 1,
        traceId: randomUUID(),
        repo: REPO,
        branch: 'main',
        commit: after,
        occurredAt: now,
        deliveryId: randomUUID(),
        provider: 'github',
        repoUrl: repoUrl(),
        ref: 'refs/heads/main',
        before,
        forced: false,
        deleted: false,
        receivedAt: now,
      };
      await pipeline.planIntake.submit([{ detail, deduplicationId: detail.deliveryId }]);
    };
    gitServer = await startGitServer({ root: join(work, 'git'), onPush: (u) => plan(u.before, u.after) });
    pipeline = await startAwsPipeline({
      aws,
      prefix: 'sluice-rollout-dev',
      git: createGitSource({ cacheDir: join(work, 'cache') }),
      targetsDir: join(work, 'targets'),
      coalesceSeconds: 1,
    });
    clone = join(work, 'clone');
    await git(work, 'clone', '-q', repoUrl(), clone);
    await plan('0'.repeat(40), await git(clone, 'rev-parse', 'HEAD'));
  }, 120_000);

  afterAll(async () => {
    await pipeline?.stop();
    await gitServer?.close();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it('bakes the canary on a delayed message, nothing running, then releases the second wave', async () => {
    // GIVEN the seed rolled out to both waves
    const seed = await git(clone, 'rev-parse', 'HEAD');
    await healthyAt(FLEET, seed);

    // WHEN a change is pushed
    await writeFile(join(clone, CONFIGMAP), helloConfigMap('hello from wave by wave'));
    await git(clone, 'commit', '-qam', 'hello: a new greeting');
    await git(clone, 'push', '-q', 'origin', 'main');
    const sha = await git(clone, 'rev-parse', 'HEAD');

    // THEN the canary takes it and bakes: the wait is a delayed message, no handler holds one
    await healthyAt(CANARY, sha);
    await waitFor(
      'hello Baking',
      async () => ((await rollout(sha))?.state === 'Baking' ? true : undefined),
      30_000,
    );
    // (once the step that started the bake has finished and its message is deleted)
    const sqs = new SQSClient(clientConfig(aws));
    const settled = await waitFor(
      'only the delayed wake-up on the rollout queue',
      async () => {
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: pipeline.resources.queues.rollout,
            AttributeNames: ['ApproximateNumberOfMessagesDelayed', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        );
        return Number(Attributes?.ApproximateNumberOfMessagesNotVisible) === 0 ? Attributes : undefined;
      },
      // Well inside the bake, whose end is the delayed message itself.
      (BAKE_SECONDS * 1000) / 2,
    );
    expect(Number(settled.ApproximateNumberOfMessagesDelayed)).toBeGreaterThanOrEqual(1);
    expect((await record(FLEET))?.commit).toBe(seed);

    // AND after the bake the second wave takes it and the rollout completes
    const fleet = await healthyAt(FLEET, sha);
    const canary = await record(CANARY);
    await waitFor('hello Completed', async () =>
      (await rollout(sha))?.state === 'Completed' ? true : undefined,
    );
    const view = await rollout(sha);
    const bakedUntil = Date.parse(view?.waves[0]?.bakeUntil ?? '');
    const fleetStarted = Date.parse(fleet.history.find((h) => h.commit === sha)?.at ?? '');
    expect(fleetStarted).toBeGreaterThanOrEqual(bakedUntil - 1000);
    console.log(
      JSON.stringify({
        canaryHealthy: canary?.history.find((h) => h.commit === sha && h.state === 'Healthy')?.at,
        bakeUntil: view?.waves[0]?.bakeUntil,
        fleetPending: fleet.history.find((h) => h.commit === sha)?.at,
        overheadMs: fleetStarted - bakedUntil,
      }),
    );
  });
});
