/**
 * Automated rollback on the deployed stacks: `cdk deploy` of the real ManagementStack (with the
 * rollback function) and one regional stack into ministack, a config repo on a real git server on
 * 127.0.0.1 whose pushes reach the deployed webhook API signed (as GitHub's would), this test as
 * the in-cluster agent (`sluice agent`'s queue loop, a directory cluster), and CloudWatch alarm
 * state changes put on the DEFAULT bus in CloudWatch's own shape.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeRuleCommand,
  EventBridgeClient,
  ListRulesCommand,
  PutRuleCommand,
  PutTargetsCommand,
  TestEventPatternCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { pollQueue } from '../../shared/adapters/aws/sqs-poller.ts';
import { seededCommitSigner } from '../../shared/adapters/git/commit-signing.ts';
import {
  type GitServer,
  initBareRepo,
  startGitServer,
  ZERO_SHA,
} from '../../shared/adapters/local/git-server.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import type { AwsSettings } from '../../shared/config/env.ts';
import { cloudWatchAlarmEvent } from '../../shared/core/alarms.ts';
import type { DeploymentRecord } from '../../shared/ports/index.ts';
import type { ApplyRequested, Envelope } from '../../shared/schemas/events.ts';
import { git, waitFor } from '../support/dev-harness.ts';
import {
  type DeployedStacks,
  deployedWebhook,
  deployToEmulator,
  helloConfigMap,
  runDirectoryAgent,
  SEED_TARGET,
  startLambdaEmulator,
  writeSeedFleet,
} from '../support/emulator-deploy.ts';

const ACCOUNT = '000000000000';
const REPO = 'local/fleet';
const ALARM = 'hello-5xx-rate-high';
const CONFIGMAP = 'apps/hello/configmap.yaml';
const APPLIED = join('hello', 'configmap.hello.yaml');

describe('automated rollback on the deployed stacks (ministack, real git server, CloudWatch-shaped alarms)', () => {
  let aws: AwsSettings;
  let stopEmulator: () => Promise<void> = async () => {};
  let deployed: DeployedStacks;
  let gitServer: GitServer;
  let work: string;
  let clone: string;
  let ledger: S3Ledger;
  let eventBridge: EventBridgeClient;
  let sqs: SQSClient;
  /** Signs and POSTs each push to the deployed API, once the API and its secret are known. */
  let forwardPush: (update: { before: string; after: string }) => Promise<void> = async () => {};
  const stop = new AbortController();
  const loops: Promise<void>[] = [];
  const applies: ApplyRequested[] = [];
  /** Every event on the sluice bus, copied to a queue of this test's own by a rule. */
  const events: Envelope[] = [];
  const seen = (detailType: string) => events.filter((e) => e['detail-type'] === detailType);

  const hello = () => ledger.getDeployment('hello', SEED_TARGET);
  const healthyAt = (commit: string) =>
    waitFor(
      `hello Healthy at ${commit.slice(0, 7)}`,
      async () => {
        const r = await hello();
        return r?.commit === commit && r.state === 'Healthy' ? r : undefined;
      },
      120_000,
    );
  const push = async (greeting: string, message: string): Promise<string> => {
    await writeFile(join(clone, CONFIGMAP), helloConfigMap(greeting));
    await git(clone, 'commit', '-qam', message);
    await git(clone, 'push', '-q', 'origin', 'main');
    return git(clone, 'rev-parse', 'HEAD');
  };
  /**
   * A CloudWatch alarm state change as the default bus's alarm rule delivers it to the rollback
   * queue. The emulator's CloudWatch emits no EventBridge events and PutEvents refuses `aws.*`
   * sources (as AWS does), so the test is EventBridge's last hop: the same envelope, sent to the
   * rule's target. The deployed rule's pattern is checked against the same event on the emulator.
   */
  const alarmEvent = (name: string, at: Date) =>
    cloudWatchAlarmEvent({ id: randomUUID(), name, at, region: aws.region, account: ACCOUNT });
  const deliverAlarm = async (event: Envelope, copies = 1) => {
    const QueueUrl = deployed.outputs.SluiceManagement!.RollbackQueueUrl!;
    for (let copy = 0; copy < copies; copy++) {
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify(event) }));
    }
  };
  /** Waits until the rollback queue holds nothing, visible or in flight: every trigger was handled. */
  const rollbackQueueDrained = () =>
    waitFor(
      'the rollback queue to drain',
      async () => {
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: deployed.outputs.SluiceManagement!.RollbackQueueUrl!,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        );
        return Number(Attributes?.ApproximateNumberOfMessages) +
          Number(Attributes?.ApproximateNumberOfMessagesNotVisible) ===
          0
          ? true
          : undefined;
      },
      120_000,
    );
  const targetFile = async () => {
    const file = join(work, 'targets', SEED_TARGET, APPLIED);
    return `${(await stat(file)).mtimeMs} ${await readFile(file, 'utf8')}`;
  };

  beforeAll(async () => {
    const emulator = await startLambdaEmulator();
    stopEmulator = emulator.stop;
    aws = emulator.aws;
    const { endpoint, region } = emulator.aws;
    eventBridge = new EventBridgeClient(clientConfig(aws));
    sqs = new SQSClient(clientConfig(aws));

    // The git server first: the stack is told where rollback clones local/fleet (management.repoUrls).
    work = await mkdtemp(join(tmpdir(), 'sluice-rollback-deployed-'));
    await writeSeedFleet(join(work, 'seed'), ACCOUNT, { alarms: [ALARM] });
    await initBareRepo(join(work, 'git'), 'fleet', join(work, 'seed'));
    gitServer = await startGitServer({
      root: join(work, 'git'),
      onPush: (update) => forwardPush(update),
    });
    const repoUrl = `${gitServer.url}/fleet.git`;
    deployed = await deployToEmulator({
      endpoint,
      region,
      account: ACCOUNT,
      deployConfig: `management:
  account: "${ACCOUNT}"
  region: ${region}
  coalesceSeconds: 1
  repoUrls:
    ${REPO}: ${repoUrl}
regions:
  - account: "${ACCOUNT}"
    region: ${region}
    agent: in-cluster
`,
    });
    console.log(JSON.stringify({ metric: 'cdk-deploy-ms', endpoint, ...deployed.ms }));
    const management = deployed.outputs.SluiceManagement!;
    ledger = new S3Ledger({ bucket: management.BundleBucket!, aws });

    const webhook = await deployedWebhook(aws, management);
    forwardPush = async ({ before, after }) => {
      const payload = githubPushPayload({
        repo: REPO,
        cloneUrl: repoUrl,
        ref: 'refs/heads/main',
        before,
        after,
      });
      const answer = await sendWebhook({ ...webhook, event: 'push', payload });
      if (answer.status !== 202) throw new Error(`webhook for ${after} answered ${answer.status}`);
    };

    // Watch the sluice bus: a rule of this test's own copies every Sluice event to a queue.
    const watch = await sqs.send(new CreateQueueCommand({ QueueName: 'rollback-test-events' }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: watch.QueueUrl!, AttributeNames: ['QueueArn'] }),
    );
    await eventBridge.send(
      new PutRuleCommand({
        Name: 'rollback-test-events',
        EventBusName: 'sluice',
        EventPattern: JSON.stringify({ source: ['sluice'] }),
      }),
    );
    await eventBridge.send(
      new PutTargetsCommand({
        Rule: 'rollback-test-events',
        EventBusName: 'sluice',
        Targets: [{ Id: 'watch', Arn: Attributes!.QueueArn! }],
      }),
    );
    loops.push(
      pollQueue({
        queueUrl: watch.QueueUrl!,
        sqs,
        signal: stop.signal,
        handle: async (record) => {
          events.push(JSON.parse(record.body) as Envelope);
          return true;
        },
      }),
    );

    // The agent: the project's own queue loop on the deployed agent queue, a directory cluster.
    loops.push(
      runDirectoryAgent({
        aws,
        bucket: management.BundleBucket!,
        queueUrl: deployed.outputs[`SluiceAgent-${ACCOUNT}-${region}`]!.AgentQueueUrl!,
        targetsDir: join(work, 'targets'),
        signal: stop.signal,
        onApply: (request) => applies.push(request),
      }),
    );

    clone = join(work, 'clone');
    await git(work, 'clone', '-q', repoUrl, clone);
  }, 600_000);

  afterAll(async () => {
    stop.abort();
    await Promise.allSettled(loops);
    await gitServer?.close();
    await stopEmulator();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  let good: DeploymentRecord;
  let bad: DeploymentRecord;

  it("routes CloudWatch's own event shape from the default bus to the rollback queue, and only ALARM of others' alarms", async () => {
    // GIVEN the alarm rule the stack deployed on the default bus
    const { Rules } = await eventBridge.send(new ListRulesCommand({ NamePrefix: 'SluiceManagement' }));
    const patterns = await Promise.all(
      (Rules ?? []).map(
        async (r) => (await eventBridge.send(new DescribeRuleCommand({ Name: r.Name! }))).EventPattern,
      ),
    );
    const pattern = patterns.find((p) => p?.includes('aws.cloudwatch'));
    expect(pattern).toBeDefined();
    const matches = async (event: Envelope) =>
      (
        await eventBridge.send(
          new TestEventPatternCommand({ EventPattern: pattern!, Event: JSON.stringify(event) }),
        )
      ).Result;
    // THEN a mapped alarm entering ALARM matches; OK and Sluice's own sluice-* alarms do not
    expect(await matches(alarmEvent(ALARM, new Date()))).toBe(true);
    expect(
      await matches(
        cloudWatchAlarmEvent({
          id: randomUUID(),
          name: ALARM,
          at: new Date(),
          state: 'OK',
          account: ACCOUNT,
        }),
      ),
    ).toBe(false);
    expect(await matches(alarmEvent('sluice-render-errors-SluiceManagement', new Date()))).toBe(false);
  });

  it('rolls nothing back for an alarm no app maps, nor for a mapped one outside the bake window', async () => {
    // GIVEN the seed release Healthy, then a bad release of hello Healthy after it
    const seed = await git(clone, 'rev-parse', 'HEAD');
    await forwardPush({ before: ZERO_SHA, after: seed });
    good = await healthyAt(seed);
    bad = await healthyAt(await push('hello from a bad release', 'break hello'));
    expect(bad.digest).not.toBe(good.digest);
    const dispatched = applies.length;

    // WHEN CloudWatch reports an alarm no app maps, and the mapped alarm 45 minutes from now
    // (hello's bake window is the default 30 minutes)
    await deliverAlarm(alarmEvent('nobody-maps-this-alarm', new Date()));
    await deliverAlarm(alarmEvent(ALARM, new Date(Date.now() + 45 * 60_000)));
    await waitFor(
      'the late alarm to be refused',
      () =>
        seen('Rollback Skipped').find(
          (e) => (e.detail as { reason: string }).reason === 'outside-bake-window',
        ),
      120_000,
    );
    await rollbackQueueDrained();

    // THEN nothing was re-dispatched and hello still runs the bad release
    expect(applies).toHaveLength(dispatched);
    expect(seen('Rollback Requested')).toHaveLength(0);
    expect(await hello()).toMatchObject({ commit: bad.commit, state: 'Healthy', version: bad.version });
  }, 300_000);

  it('rolls back to the last known good digest on a mapped alarm, once despite a duplicate and a flap, and reverts in Git as a no-op', async () => {
    // GIVEN hello Healthy at the bad release (previous test)
    const before = applies.length;

    // WHEN the mapped alarm enters ALARM, delivered twice, and enters ALARM again a second later
    // after a flap through OK (which the rule does not deliver)
    const started = performance.now();
    const now = Date.now();
    await deliverAlarm(alarmEvent(ALARM, new Date(now)), 2);
    await deliverAlarm(alarmEvent(ALARM, new Date(now + 1_000)));

    // THEN the agent is sent the last known good bundle under a newer generation, as a rollback
    const rolledBack = await waitFor(
      'hello RolledBack',
      async () => {
        const r = await hello();
        return r?.state === 'RolledBack' && r.rollbackOf === bad.commit ? r : undefined;
      },
      120_000,
    );
    const ms = Math.round(performance.now() - started);
    console.log(
      JSON.stringify({
        metric: 'alarm-to-rolled-back-ms',
        where: 'emulator',
        ms,
        targets: 1,
        endpoint: aws.endpoint,
      }),
    );
    expect(rolledBack).toMatchObject({ commit: good.commit, digest: good.digest });
    expect(rolledBack.reason).toContain(ALARM);
    const redispatch = applies.slice(before);
    expect(redispatch).toHaveLength(1);
    expect(redispatch[0]).toMatchObject({
      commit: good.commit,
      rollbackOf: bad.commit,
      bundle: { digest: good.digest },
    });
    expect(redispatch[0]!.generation).toBeGreaterThan(bad.generation);
    expect(await readFile(join(work, 'targets', SEED_TARGET, APPLIED), 'utf8')).toContain(
      'hello from the deployed stack',
    );

    // AND a revert commit with the trailers lands on main in the git server
    const revert = await waitFor(
      'the revert commit on main',
      async () => {
        await git(clone, 'pull', '-q', '--ff-only', 'origin', 'main');
        const body = await git(clone, 'log', '-1', '--format=%B');
        return body.includes(`Sluice-Revert-Of: ${bad.commit}`) ? git(clone, 'rev-parse', 'HEAD') : undefined;
      },
      120_000,
    );
    const body = await git(clone, 'log', '-1', '--format=%B');
    expect(body).toContain(`Sluice-Alarm: ${ALARM}`);
    expect(body).toContain(`Sluice-Trace: ${bad.traceId}`);
    expect(await git(clone, 'show', '--name-only', '--format=', 'HEAD')).toBe(CONFIGMAP);
    expect(await readFile(join(clone, CONFIGMAP), 'utf8')).toBe(
      helloConfigMap('hello from the deployed stack'),
    );
    // AND it is signed by the stack's own key (its seed generated by CloudFormation), as git checks it
    const secret = deployed.outputs.SluiceManagement!.CommitSigningKeySecretArn!;
    const seed = await new SecretsManagerStore({ aws }).get(`aws-sm://${secret}#seed`);
    const allowed = join(work, 'allowed_signers');
    await writeFile(allowed, `sluice@localhost ${seededCommitSigner(seed, secret).publicKey}\n`);
    expect(
      await git(clone, '-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'log', '-1', '--format=%G?', revert),
    ).toBe('G');

    // AND the pipeline deploys the revert commit (its push reached the webhook) as a no-op
    const applied = await targetFile();
    const atRevert = await waitFor(
      'hello at the revert commit',
      async () => {
        const r = await hello();
        return r?.commit === revert && ['RolledBack', 'Healthy', 'Failed'].includes(r.state) ? r : undefined;
      },
      120_000,
    );
    expect(atRevert).toMatchObject({ state: 'RolledBack', digest: good.digest, rollbackOf: bad.commit });
    expect(applies.at(-1)).toMatchObject({ commit: revert, bundle: { digest: good.digest } });
    expect(await targetFile()).toBe(applied);

    // AND neither the duplicate delivery nor the flap caused a second rollback
    await rollbackQueueDrained();
    expect(seen('Rollback Requested')).toHaveLength(1);
    expect(applies.filter((a) => a.rollbackOf === bad.commit)).toHaveLength(1);
    expect(seen('Revert Committed')).toHaveLength(1);
    expect(
      (await git(clone, 'log', '--format=%B', 'main')).split(`Sluice-Revert-Of: ${bad.commit}`),
    ).toHaveLength(2);
  }, 300_000);
});
