/**
 * `sluice agent` end to end: the real CLI process, long-polling a real SQS queue (LocalStack on
 * the host, see test/support/emulator.ts), bundles in S3, secrets in Secrets Manager, outcomes on
 * an EventBridge bus, applying to the real API server.
 */
import { join } from 'node:path';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { clientConfig, s3ClientConfig } from '../../shared/adapters/aws/client-config.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import type { KubeObject } from '../../shared/ports/index.ts';
import { ensureInstalled, type RunningEmulator, startEmulator } from '../support/emulator.ts';
import { freePort, REPO_ROOT } from '../support/kube.ts';
import {
  admin,
  applyRequest,
  completeRollout,
  configMap,
  countOwnedConfigMaps,
  deployment,
  eventually,
  getObject,
  grantAgentRbac,
  namespace,
  spawnNode,
  storeBundle,
  uniqueName,
} from './harness.ts';

const kube = inject('kube');
const region = 'us-east-1';
let emulator: RunningEmulator;

beforeAll(async () => {
  await grantAgentRbac(kube);
  await ensureInstalled();
  emulator = await startEmulator({
    port: await freePort(),
    services: ['sqs', 's3', 'secretsmanager', 'events', 'sts'],
  });
}, 600_000);

afterAll(async () => {
  await emulator?.stop();
});

const countConfigMaps = (ns: string) => countOwnedConfigMaps(kube, ns);

type Outcome = { 'detail-type': string; detail: Record<string, unknown> };

/** An agent queue, a bucket, a bus whose events land on an `out` queue, and the agent's environment. */
const awsFixture = async () => {
  const settings = { region, endpoint: emulator.endpoint };
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  const sqs = new SQSClient(clientConfig(settings));
  const s3 = new S3Client(s3ClientConfig(settings));
  const events = new EventBridgeClient(clientConfig(settings));
  const secrets = new SecretsManagerClient(clientConfig(settings));
  const name = uniqueName('cli');
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-agent` }))).QueueUrl ?? '';
  const outUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-out` }))).QueueUrl ?? '';
  const outArn =
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: outUrl, AttributeNames: ['QueueArn'] })))
      .Attributes?.QueueArn ?? '';
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  await events.send(new CreateEventBusCommand({ Name: name }));
  await events.send(
    new PutRuleCommand({
      Name: name,
      EventBusName: name,
      EventPattern: JSON.stringify({ source: ['sluice'] }),
    }),
  );
  await events.send(
    new PutTargetsCommand({ Rule: name, EventBusName: name, Targets: [{ Id: 'out', Arn: outArn }] }),
  );
  const env = {
    ...process.env,
    AWS_REGION: region,
    AWS_ENDPOINT_URL: emulator.endpoint,
    SLUICE_BUCKET: name,
    SLUICE_BUCKET_REGION: region,
    SLUICE_BUS_NAME: name,
  };
  /** Stores the bundle in S3 and puts its Apply Requested on the agent queue. */
  const send = async (app: string, objects: readonly KubeObject[], generation: number) => {
    const bundle = await storeBundle(
      new S3BundleStore({ bucket: name, aws: settings }),
      app,
      objects,
      generation,
    );
    const request = applyRequest(app, bundle, generation);
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(request) }));
    return bundle;
  };
  const outcomes: Outcome[] = [];
  /** Reads the bus's events (bounded) until `done` holds. */
  const collect = async (done: (all: readonly Outcome[]) => boolean, rounds = 60) => {
    for (let i = 0; i < rounds && !done(outcomes); i += 1) {
      const got = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: outUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }),
      );
      for (const m of got.Messages ?? []) {
        outcomes.push(JSON.parse(m.Body ?? '{}'));
        await sqs.send(new DeleteMessageCommand({ QueueUrl: outUrl, ReceiptHandle: m.ReceiptHandle ?? '' }));
      }
    }
    return outcomes;
  };
  const queueIsEmpty = async () =>
    (
      await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      )
    ).Attributes;
  return { name, s3, secrets, queueUrl, env, send, collect, queueIsEmpty };
};

const spawnAgent = (env: NodeJS.ProcessEnv, queueUrl: string, extra: string[]) =>
  spawnNode(
    [
      join(REPO_ROOT, 'bin/sluice.mjs'),
      'agent',
      '--queue-url',
      queueUrl,
      '--target',
      'onprem-1',
      '--kubeconfig',
      kube.agentKubeconfig,
      ...extra,
    ],
    env,
  );

const succeeded = (all: readonly Outcome[]) => all.filter((e) => e['detail-type'] === 'Deployment Succeeded');

describe('sluice agent', () => {
  it('applies work from its queue, survives a kill mid-apply, and stops cleanly on SIGTERM', async () => {
    // GIVEN a bundle in S3 that references a secret in Secrets Manager, on the agent queue
    const aws = await awsFixture();
    const value = `cli-secret-${uniqueName('v')}`;
    await aws.secrets.send(
      new CreateSecretCommand({ Name: `${aws.name}/db`, SecretString: JSON.stringify({ password: value }) }),
    );
    const ns = uniqueName('cli');
    const bundle = await aws.send(
      `cli-${ns}`,
      [
        namespace(ns),
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'db', namespace: ns },
          stringData: { password: `aws-sm://${aws.name}/db#password` },
        },
        ...Array.from({ length: 120 }, (_, i) => configMap(ns, `cm-${i}`)),
      ],
      1,
    );
    const args = ['--visibility-timeout', '4', '--drift-interval', '0'];

    // WHEN the agent is killed mid-apply
    const first = spawnAgent(aws.env, aws.queueUrl, args);
    for (let i = 0; i < 3000 && (await countConfigMaps(ns)) < 5; i += 1)
      await new Promise((ok) => setTimeout(ok, 20));
    first.child.kill('SIGKILL');
    await first.exited;
    const partial = await countConfigMaps(ns);
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(120);

    // AND started again (the message comes back when its visibility lapses)
    const second = spawnAgent(aws.env, aws.queueUrl, args);
    const outcomes = await aws.collect((all) => succeeded(all).length > 0);

    // THEN the delivery completes: every object applied, success on the bus, the message gone from the queue
    expect(succeeded(outcomes)).toHaveLength(1);
    expect(await countConfigMaps(ns)).toBe(120);
    expect(await aws.queueIsEmpty()).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
    });

    // AND SIGTERM stops it cleanly
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(second.output()).toContain('stopped');

    // AND an on-demand drift check (`--drift-once`) reports a hand edit with its manager, on the bus too
    await admin(kube).request(
      'PATCH',
      `/api/v1/namespaces/${ns}/configmaps/cm-7?fieldManager=kubectl-edit`,
      { data: { k: 'edited' } },
      'application/merge-patch+json',
    );
    // (only this test's app: other suites share the API server and change their own apps meanwhile)
    const check = spawnAgent(aws.env, aws.queueUrl, ['--drift-once', '--app', `cli-${ns}`]);
    // (the output rides along, so a failure shows what the agent said)
    expect({ exit: await check.exited, output: check.output() }).toMatchObject({ exit: 0 });
    expect(check.output()).toContain(
      `ConfigMap/${ns}/cm-7 data.k: want "v", live "edited" (changed by kubectl-edit)`,
    );
    await aws.collect((all) => all.some((e) => e['detail-type'] === 'Drift Detected'), 20);
    expect(outcomes.map((e) => e['detail-type'])).toContain('Drift Detected');

    // AND the secret value is in the cluster only: not in any log line, event or the bundle
    const live = await admin(kube).request('GET', `/api/v1/namespaces/${ns}/secrets/db`);
    const data = (live.json as { data: { password: string } }).data;
    expect(Buffer.from(data.password, 'base64').toString()).toBe(value);
    expect(first.output() + second.output() + check.output()).not.toContain(value);
    expect(JSON.stringify(outcomes)).not.toContain(value);
    const stored = await aws.s3.send(new GetObjectCommand({ Bucket: aws.name, Key: bundle.key }));
    expect(await stored.Body?.transformToString()).not.toContain(value);
  });

  it('keeps a message it works on invisible, so a second agent never takes over a long health wait', async () => {
    // GIVEN two agents on one queue whose messages lapse after 4 s unless extended
    const aws = await awsFixture();
    const ns = uniqueName('long');
    await aws.send(`long-${ns}`, [namespace(ns), deployment(ns, 'web')], 1);
    const args = ['--visibility-timeout', '4', '--drift-interval', '0', '--health-deadline', '120'];
    const agents = [spawnAgent(aws.env, aws.queueUrl, args), spawnAgent(aws.env, aws.queueUrl, args)];

    // WHEN the Deployment takes two and a half visibility timeouts to roll out
    await eventually(
      async () => (await getObject(kube, `/apis/apps/v1/namespaces/${ns}/deployments/web`)) !== undefined,
      'the deployment',
    );
    await new Promise((ok) => setTimeout(ok, 10_000));
    await completeRollout(kube, ns, 'web');
    await aws.collect((all) => succeeded(all).length > 0);
    // (and a little longer, for a second report to show up if there were one)
    const outcomes = await aws.collect(() => false, 3);

    // THEN exactly one agent handled it: one success, the message deleted
    expect(succeeded(outcomes)).toHaveLength(1);
    expect(await aws.queueIsEmpty()).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
    });
    for (const agent of agents) agent.child.kill('SIGTERM');
    expect(await Promise.all(agents.map((a) => a.exited))).toEqual([0, 0]);
  });
});
