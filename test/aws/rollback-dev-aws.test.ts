/**
 * Rollback in the pipeline `sluice dev --aws` runs (cli/runtime/aws-pipeline.ts) on LocalStack: a
 * CloudWatch alarm state change put on the emulator's DEFAULT bus reaches the rollback queue by the
 * pipeline's own rule, and the rollback handler drained in process re-dispatches the last known good
 * bundle and pushes the revert to a real git server. Pushes reach the planner as ingest hands them
 * over (the plan queue), so this suite runs on its own resource prefix beside the dev-aws suite.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type AwsPipeline, startAwsPipeline } from '../../cli/runtime/aws-pipeline.ts';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { type GitServer, initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import type { AwsSettings } from '../../shared/config/env.ts';
import { ALARM_SOURCE } from '../../shared/core/alarms.ts';
import type { DeploymentRecord } from '../../shared/ports/index.ts';
import type { CommitPushed } from '../../shared/schemas/events.ts';
import { git, waitFor } from '../support/dev-harness.ts';
import { helloConfigMap, putAlarmEvent, SEED_TARGET, writeSeedFleet } from '../support/emulator-deploy.ts';
import { recordWhere } from '../support/wait.ts';

const REPO = 'local/fleet';
const ALARM = 'hello-dev-aws-errors';
const CONFIGMAP = 'apps/hello/configmap.yaml';

/**
 * Where CloudWatch puts the alarm's state change: the management account's own default bus, or a
 * target region's default bus whose rule forwards it to the sluice bus (what each regional stack's
 * ForwardAlarms rule does), to be taken there as the management stack's ForwardedAlarmRule takes it.
 */
const PLACEMENTS = [
  { where: 'the default bus', prefix: 'sluice-rollback-dev', region: undefined },
  { where: "a second region's default bus, forwarded", prefix: 'sluice-rollback-fwd', region: 'eu-west-1' },
] as const;

describe.each(PLACEMENTS)('rollback in sluice dev --aws on an alarm put on $where', (placement) => {
  let aws: AwsSettings;
  let work: string;
  let gitServer: GitServer;
  let pipeline: AwsPipeline;
  let clone: string;

  const hello = (): Promise<DeploymentRecord | undefined> =>
    pipeline.ledger.getDeployment('hello', SEED_TARGET);
  const at = (check: (r: DeploymentRecord) => boolean, what: string) => recordWhere(hello, check, what);

  beforeAll(async () => {
    aws = { region: inject('awsRegion'), endpoint: inject('awsEndpoint') };
    work = await mkdtemp(join(tmpdir(), 'sluice-rollback-dev-aws-'));
    await writeSeedFleet(join(work, 'seed'), '000000000000', { alarms: [ALARM] });
    await initBareRepo(join(work, 'git'), 'fleet', join(work, 'seed'));
    const repoUrl = () => `${gitServer.url}/fleet.git`;
    /** What ingest hands the planner for a push (sluice dev --aws signs a webhook for it first). */
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
      prefix: placement.prefix,
      git: createGitSource({ cacheDir: join(work, 'cache') }),
      targetsDir: join(work, 'targets'),
      coalesceSeconds: 1,
    });
    clone = join(work, 'clone');
    await git(work, 'clone', '-q', repoUrl(), clone);
    await plan('0'.repeat(40), await git(clone, 'rev-parse', 'HEAD'));
    if (placement.region) {
      // The regional stack's forwarding rule: that region's alarms onto the management sluice bus.
      const away = new EventBridgeClient(clientConfig({ ...aws, region: placement.region }));
      const home = new EventBridgeClient(clientConfig(aws));
      const { Arn: EventBusArn } = await home.send(
        new DescribeEventBusCommand({ Name: pipeline.resources.busName }),
      );
      const Name = `${placement.prefix}-forward-alarms`;
      await away.send(
        new PutRuleCommand({
          Name,
          EventPattern: JSON.stringify({
            source: [ALARM_SOURCE],
            'detail-type': ['CloudWatch Alarm State Change'],
          }),
        }),
      );
      await away.send(
        new PutTargetsCommand({
          Rule: Name,
          Targets: [{ Id: 'bus', Arn: EventBusArn!, RoleArn: 'arn:aws:iam::000000000000:role/forward' }],
        }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    await pipeline?.stop();
    await gitServer?.close();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it('rolls back on the alarm, reverts in Git, and deploys the revert as a no-op', async () => {
    // GIVEN hello Healthy at the seed, then at a bad commit
    const good = await at((r) => r.state === 'Healthy', 'hello Healthy at the seed');
    await writeFile(join(clone, CONFIGMAP), helloConfigMap('hello from a bad release'));
    await git(clone, 'commit', '-qam', 'break hello');
    await git(clone, 'push', '-q', 'origin', 'main');
    const badCommit = await git(clone, 'rev-parse', 'HEAD');
    const bad = await at(
      (r) => r.commit === badCommit && r.state === 'Healthy',
      'hello Healthy at the bad commit',
    );

    // WHEN CloudWatch's event for the mapped alarm entering ALARM is put on the default bus
    const started = performance.now();
    await putAlarmEvent(aws, ALARM, placement.region ?? aws.region);

    // THEN hello runs the last known good bundle again, recorded as RolledBack
    const rolledBack = await at(
      (r) => r.state === 'RolledBack' && r.rollbackOf === bad.commit,
      'hello RolledBack',
    );
    console.log(
      JSON.stringify({
        metric: 'alarm-to-rolled-back-ms',
        where: placement.region ? `sluice dev --aws, forwarded from ${placement.region}` : 'sluice dev --aws',
        ms: Math.round(performance.now() - started),
        targets: 1,
      }),
    );
    expect(rolledBack).toMatchObject({ commit: good.commit, digest: good.digest });
    // AND the revert commit with the trailers is on main in the git server
    const revert = await waitFor(
      'the revert commit',
      async () => {
        await git(clone, 'pull', '-q', '--ff-only', 'origin', 'main');
        const body = await git(clone, 'log', '-1', '--format=%B');
        return body.includes(`Sluice-Revert-Of: ${bad.commit}`) && body.includes(`Sluice-Alarm: ${ALARM}`)
          ? git(clone, 'rev-parse', 'HEAD')
          : undefined;
      },
      60_000,
    );
    // AND deploying the revert changes nothing: same digest, still RolledBack, the target file as it was
    const applied = join(work, 'targets', SEED_TARGET, 'hello', 'configmap.hello.yaml');
    const before = await readFile(applied, 'utf8');
    const final = await at((r) => r.commit === revert && r.state !== 'Pending', 'hello at the revert commit');
    expect(final).toMatchObject({ state: 'RolledBack', digest: good.digest });
    expect(await readFile(applied, 'utf8')).toBe(before);
    expect(before).toContain('hello from the deployed stack');
  }, 180_000);
});
