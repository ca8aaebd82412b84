/**
 * `sluice agent` end to end: the real CLI process, long-polling a real SQS queue (LocalStack on
 * the host, see test/support/emulator.ts), bundles in S3, secrets in Secrets Manager, outcomes on
 * an EventBridge bus, applying to the real API server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
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
import { encodeBundle } from '../../shared/core/bundle.ts';
import type { KubeObject } from '../../shared/ports/index.ts';
import type { ApplyRequested } from '../../shared/schemas/events.ts';
import { ensureInstalled, type RunningEmulator, startEmulator } from '../support/emulator.ts';
import { REPO_ROOT } from '../support/kube.ts';
import { admin, commitOf, configMap, grantAgentRbac, namespace, uniqueName } from './harness.ts';

const kube = inject('kube');
const region = 'us-east-1';
let emulator: RunningEmulator;

const freePort = (): Promise<number> =>
  new Promise((ok, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? ok(address.port) : fail(new Error('no port')),
      );
    });
  });

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

const countConfigMaps = async (ns: string): Promise<number> => {
  const res = await admin(kube).request(
    'GET',
    `/api/v1/namespaces/${ns}/configmaps?labelSelector=sluice.dev%2Fapp`,
  );
  return ((res.json as { items?: unknown[] }).items ?? []).length;
};

describe('sluice agent', () => {
  it('applies work from its queue, survives a kill mid-apply, and stops cleanly on SIGTERM', async () => {
    // GIVEN an agent queue, a bundle in S3 that references a secret in Secrets Manager, and a bus whose events land on a queue
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
    const value = `cli-secret-${uniqueName('v')}`;
    await secrets.send(
      new CreateSecretCommand({ Name: `${name}/db`, SecretString: JSON.stringify({ password: value }) }),
    );

    const ns = uniqueName('cli');
    const objects: KubeObject[] = [
      namespace(ns),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'db', namespace: ns },
        stringData: { password: `aws-sm://${name}/db#password` },
      },
      ...Array.from({ length: 120 }, (_, i) => configMap(ns, `cm-${i}`)),
    ];
    const bundle = await new S3BundleStore({ bucket: name, aws: settings }).put(
      encodeBundle(
        objects.map((object, i) => ({ object, file: `f${i}.yaml` })),
        { app: 'cli', commit: commitOf(1) },
      ),
      { objects: objects.length },
    );
    const request: ApplyRequested = {
      schemaVersion: 1,
      traceId: `trace-${name}`,
      repo: 'acme/fleet',
      branch: 'main',
      commit: commitOf(1),
      occurredAt: new Date().toISOString(),
      generation: 1,
      app: `cli-${ns}`,
      target: { name: 'onprem-1', cloud: 'onprem', region: 'local', agent: 'in-cluster' },
      bundle,
      sync: { prune: true, selfHeal: false },
    };
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(request) }));

    const env = {
      ...process.env,
      AWS_REGION: region,
      AWS_ENDPOINT_URL: emulator.endpoint,
      SLUICE_BUCKET: name,
      SLUICE_BUCKET_REGION: region,
      SLUICE_BUS_NAME: name,
    };
    const start = (): { child: ChildProcess; output: () => string; exited: Promise<number | null> } => {
      const child = spawn(
        process.execPath,
        [
          join(REPO_ROOT, 'bin/sluice.mjs'),
          'agent',
          '--queue-url',
          queueUrl,
          '--target',
          'onprem-1',
          '--kubeconfig',
          kube.agentKubeconfig,
          '--visibility-timeout',
          '4',
          '--drift-interval',
          '0',
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout?.on('data', (c: Buffer) => {
        output += c.toString();
      });
      child.stderr?.on('data', (c: Buffer) => {
        output += c.toString();
      });
      return {
        child,
        output: () => output,
        exited: new Promise((ok) => child.once('exit', (code) => ok(code))),
      };
    };

    // WHEN the agent is killed mid-apply
    const first = start();
    for (let i = 0; i < 3000 && (await countConfigMaps(ns)) < 5; i += 1)
      await new Promise((ok) => setTimeout(ok, 20));
    first.child.kill('SIGKILL');
    await first.exited;
    const partial = await countConfigMaps(ns);
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(120);

    // AND started again (the message comes back when its visibility lapses)
    const second = start();
    const outcomes: { 'detail-type': string; detail: Record<string, unknown> }[] = [];
    for (let i = 0; i < 60 && !outcomes.some((e) => e['detail-type'] === 'Deployment Succeeded'); i += 1) {
      const got = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: outUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }),
      );
      for (const m of got.Messages ?? []) {
        outcomes.push(JSON.parse(m.Body ?? '{}'));
        await sqs.send(new DeleteMessageCommand({ QueueUrl: outUrl, ReceiptHandle: m.ReceiptHandle ?? '' }));
      }
    }

    // THEN the delivery completes: every object applied, success on the bus, the message gone from the queue
    expect(outcomes.map((e) => e['detail-type'])).toContain('Deployment Succeeded');
    expect(await countConfigMaps(ns)).toBe(120);
    const attributes = (
      await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      )
    ).Attributes;
    expect(attributes).toMatchObject({
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
    const check = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'bin/sluice.mjs'),
        'agent',
        '--queue-url',
        queueUrl,
        '--target',
        'onprem-1',
        '--kubeconfig',
        kube.agentKubeconfig,
        '--drift-once',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let checkOutput = '';
    check.stderr?.on('data', (c: Buffer) => {
      checkOutput += c.toString();
    });
    expect(await new Promise((ok) => check.once('exit', ok))).toBe(0);
    expect(checkOutput).toContain(
      `ConfigMap/${ns}/cm-7 data.k: want "v", live "edited" (changed by kubectl-edit)`,
    );
    let drift: { 'detail-type': string } | undefined;
    for (let i = 0; i < 20 && !drift; i += 1) {
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: outUrl, WaitTimeSeconds: 1 }));
      drift = (got.Messages ?? [])
        .map((m) => JSON.parse(m.Body ?? '{}') as { 'detail-type': string })
        .find((e) => e['detail-type'] === 'Drift Detected');
    }
    expect(drift).toBeDefined();

    // AND the secret value is in the cluster only: not in any log line, event or the bundle
    const live = await admin(kube).request('GET', `/api/v1/namespaces/${ns}/secrets/db`);
    const data = (live.json as { data: { password: string } }).data;
    expect(Buffer.from(data.password, 'base64').toString()).toBe(value);
    expect(first.output() + second.output() + checkOutput).not.toContain(value);
    expect(JSON.stringify(outcomes)).not.toContain(value);
    const stored = await s3.send(new GetObjectCommand({ Bucket: name, Key: bundle.key }));
    expect(await stored.Body?.transformToString()).not.toContain(value);
  });
});
