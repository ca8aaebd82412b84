/**
 * `cdk deploy` of the real CDK app into an emulator: synth (outside the repo, so the function
 * bundles are staged as their own assets), `cdk bootstrap`, `cdk deploy --all`, stack outputs.
 * The pinned aws-cdk CLI reaches the emulator through AWS_ENDPOINT_URL, like every SDK v3 client.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { pollQueue } from '../../shared/adapters/aws/sqs-poller.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { localContext } from '../../shared/adapters/local/event-source.ts';
import { type GitServer, initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import type { AwsSettings } from '../../shared/config/env.ts';
import { cloudWatchAlarmEvent } from '../../shared/core/alarms.ts';
import type { ApplyRequested } from '../../shared/schemas/events.ts';
import { createAgentHandler } from './agent-handler.ts';
import { REPO_ROOT } from './emulator.ts';
import { ensureMinistack, MINISTACK_VERSION, startMinistack } from './emulator-ministack.ts';

const run = promisify(execFile);

export interface DeployedStacks {
  /** Outputs by stack name, then output name. */
  readonly outputs: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Wall time of synth, bootstrap and deploy. */
  readonly ms: { synth: number; bootstrap: number; deploy: number };
}

/**
 * Deploys every stack of `deployConfig` (a sluice.deploy.yaml text) into the emulator at
 * `endpoint`. Fails with the CLI's own output when a step fails.
 */
export const deployToEmulator = async (options: {
  endpoint: string;
  region: string;
  account: string;
  deployConfig: string;
}): Promise<DeployedStacks> => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-cdk-'));
  try {
    const configFile = join(dir, 'sluice.deploy.yaml');
    await writeFile(configFile, options.deployConfig);
    const out = join(dir, 'cdk.out');
    const outputsFile = join(dir, 'outputs.json');
    const env = {
      ...process.env,
      PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
      AWS_ENDPOINT_URL: options.endpoint,
      AWS_REGION: options.region,
      AWS_DEFAULT_REGION: options.region,
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
      CDK_DISABLE_VERSION_CHECK: '1',
      // Nothing leaves 127.0.0.1: no notices, no version check, no CLI telemetry.
      CDK_DISABLE_CLI_TELEMETRY: 'true',
    };
    const cdk = async (args: string[]): Promise<number> => {
      const started = performance.now();
      try {
        await run('cdk', [...args, '--no-notices', '--no-version-reporting'], {
          cwd: REPO_ROOT,
          env,
          maxBuffer: 64 * 1024 * 1024,
          timeout: 300_000,
        });
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string };
        const lines = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
        throw new Error(`cdk ${args[0]} against ${options.endpoint} failed:\n${lines}`, { cause: error });
      }
      return Math.round(performance.now() - started);
    };
    const synth = await cdk(['synth', '--quiet', '-c', `sluice:config=${configFile}`, '-o', out]);
    const bootstrap = await cdk(['bootstrap', `aws://${options.account}/${options.region}`, '--app', out]);
    const deploy = await cdk([
      'deploy',
      '--all',
      '--app',
      out,
      '--require-approval',
      'never',
      '--outputs-file',
      outputsFile,
    ]);
    const outputs = JSON.parse(await readFile(outputsFile, 'utf8')) as DeployedStacks['outputs'];
    return { outputs, ms: { synth, bootstrap, deploy } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/**
 * The emulator a deployed-stack suite deploys into: the one in AWS_ENDPOINT_URL when given, else a
 * ministack started here (LocalStack's free edition runs no Lambda code without Docker).
 */
export const startLambdaEmulator = async (): Promise<{
  aws: AwsSettings & { endpoint: string };
  stop: () => Promise<void>;
}> => {
  const region = inject('awsRegion');
  if (inject('awsEndpointGiven'))
    return { aws: { region, endpoint: inject('awsEndpoint') }, stop: async () => {} };
  await ensureMinistack({ log: (line) => console.log(`[ministack] ${line}`) });
  const ministack = await startMinistack();
  console.log(`[ministack] ${MINISTACK_VERSION} ready at ${ministack.endpoint} in ${ministack.startMs} ms`);
  return { aws: { region, endpoint: ministack.endpoint }, stop: ministack.stop };
};

/**
 * Where a Git provider POSTs to the deployed management stack, and the `github` webhook secret the
 * stack generated. The WebhookUrl output is the API's AWS URL; emulators serve it under
 * /_aws/execute-api/<id>/<stage>/.
 */
export const deployedWebhook = async (
  aws: AwsSettings,
  management: Readonly<Record<string, string>>,
): Promise<{ url: string; secret: string }> => {
  if (aws.endpoint === undefined)
    throw new Error('deployedWebhook needs the emulator endpoint in aws.endpoint');
  const secret = await new SecretsManagerClient(clientConfig(aws)).send(
    new GetSecretValueCommand({ SecretId: management.WebhookSecretArn }),
  );
  const apiId = new URL(management.WebhookUrl ?? '').hostname.split('.')[0];
  return {
    url: `${aws.endpoint}/_aws/execute-api/${apiId}/$default/webhooks/github`,
    secret: (JSON.parse(secret.SecretString ?? '{}') as { github: string }).github,
  };
};

/**
 * The in-cluster agent of a deployed regional stack, played by the test: `sluice agent`'s queue
 * loop on the stack's agent queue, applying to directory targets under `targetsDir`. Runs until
 * `signal` aborts; `onApply` sees every Apply Requested before it is applied.
 */
export const runDirectoryAgent = (options: {
  aws: AwsSettings;
  bucket: string;
  queueUrl: string;
  targetsDir: string;
  signal: AbortSignal;
  onApply?: (request: ApplyRequested) => void;
}): Promise<void> => {
  const { aws } = options;
  const handler = createAgentHandler({
    bundles: new S3BundleStore({ bucket: options.bucket, aws }),
    cluster: (target) => new DirectoryCluster(join(options.targetsDir, target)),
    secrets: new SecretsManagerStore({ aws }),
    bus: new EventBridgeBus({ busName: 'sluice', aws }),
    clock: systemClock,
  });
  return pollQueue({
    queueUrl: options.queueUrl,
    sqs: new SQSClient(clientConfig(aws)),
    signal: options.signal,
    visibilityTimeout: 60,
    handle: async (record) => {
      options.onApply?.(JSON.parse(record.body) as ApplyRequested);
      const result = await handler({ Records: [record] }, localContext('agent'));
      return (result?.batchItemFailures ?? []).length === 0;
    },
  });
};

/**
 * A config repo for the emulator suites: one app (a ConfigMap) on one AWS target in us-east-1;
 * `alarms` names CloudWatch alarms that roll `hello` back.
 */
export const SEED_TARGET = 'e2e-use1';
/** A sluice.yaml target in us-east-1 applied by an in-cluster agent to a directory cluster. */
const inClusterTarget = (name: string, account = '000000000000'): string => `  - name: ${name}
    cloud: aws
    region: us-east-1
    account: "${account}"
    labels: { env: e2e }
    cluster: { kind: directory }
    agent: in-cluster
`;
export const writeSeedFleet = (
  dir: string,
  account = '000000000000',
  options: { alarms?: readonly string[] } = {},
): Promise<void> =>
  writeHelloFleet(dir, {
    targets: inClusterTarget(SEED_TARGET, account),
    app: options.alarms?.length
      ? `    alarms: [${options.alarms.map((name) => `{ name: ${name} }`).join(', ')}]\n`
      : '',
    greeting: 'hello from the deployed stack',
  });

/** A config repo of one app, `hello` (a ConfigMap saying `greeting`), on every target given. */
const writeHelloFleet = async (
  dir: string,
  fleet: { targets: string; app: string; greeting: string },
): Promise<void> => {
  await mkdir(join(dir, 'apps', 'hello'), { recursive: true });
  await writeFile(
    join(dir, 'sluice.yaml'),
    `apiVersion: sluice.dev/v1
kind: Fleet
targets:
${fleet.targets}apps:
  - name: hello
    path: apps/hello
    namespace: hello
    targets: {}
${fleet.app}`,
  );
  await writeFile(join(dir, 'apps', 'hello', 'configmap.yaml'), helloConfigMap(fleet.greeting));
};

/** A config repo served over HTTP and the stacks deployed for it, with the test as their agent. */
export interface DeployedFleet {
  readonly aws: AwsSettings & { endpoint: string };
  readonly deployed: DeployedStacks;
  readonly git: GitServer;
  /** The work directory: git/fleet.git (the bare repo), targets/<target> (what the agent applied). */
  readonly work: string;
  /** Stops the agent, the git server and the emulator, and removes the work directory. */
  stop(): Promise<void>;
}

/**
 * The emulator running Lambda code, a config repo (`writeSeed` writes its first commit) on a git
 * server on 127.0.0.1, the stacks of singleRegionDeployConfig deployed for it, and the in-cluster
 * agent played by runDirectoryAgent (`onApply` sees each Apply Requested).
 */
export const deployFleet = async (options: {
  prefix: string;
  account: string;
  writeSeed: (dir: string) => Promise<void>;
  onApply?: (request: ApplyRequested) => void;
}): Promise<DeployedFleet> => {
  const emulator = await startLambdaEmulator();
  const { aws } = emulator;
  const work = await mkdtemp(join(tmpdir(), options.prefix));
  let git: GitServer | undefined;
  let deployed: DeployedStacks;
  try {
    const seed = join(work, 'seed');
    await options.writeSeed(seed);
    await initBareRepo(join(work, 'git'), 'fleet', seed);
    // The git server first: the stack is told the repo's clone URL (management.repos).
    git = await startGitServer({ root: join(work, 'git') });
    deployed = await deployToEmulator({
      endpoint: aws.endpoint,
      region: aws.region,
      account: options.account,
      deployConfig: singleRegionDeployConfig(`${git.url}/fleet.git`, options.account),
    });
  } catch (error) {
    await git?.close();
    await emulator.stop();
    await rm(work, { recursive: true, force: true });
    throw error;
  }
  console.log(JSON.stringify({ metric: 'cdk-deploy-ms', endpoint: aws.endpoint, ...deployed.ms }));
  const agentStop = new AbortController();
  const agentLoop = runDirectoryAgent({
    aws,
    bucket: deployed.outputs.SluiceManagement!.BundleBucket!,
    queueUrl: deployed.outputs[`SluiceAgent-${options.account}-${aws.region}`]!.AgentQueueUrl!,
    targetsDir: join(work, 'targets'),
    signal: agentStop.signal,
    ...(options.onApply ? { onApply: options.onApply } : {}),
  });
  const server = git;
  return {
    aws,
    deployed,
    git: server,
    work,
    stop: async () => {
      agentStop.abort();
      await agentLoop.catch(() => undefined);
      await server.close();
      await emulator.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
};

/**
 * The sluice.deploy.yaml of the emulator suites: the management stack and one in-cluster region,
 * both in us-east-1, deploying only local/fleet at `repoUrl` (management.repos).
 */
export const singleRegionDeployConfig = (repoUrl: string, account = '000000000000'): string => `management:
  account: "${account}"
  region: us-east-1
  coalesceSeconds: 1
  repos:
    - { name: local/fleet, url: "${repoUrl}", branches: [main] }
regions:
  - account: "${account}"
    region: us-east-1
    agent: in-cluster
`;

/**
 * A config repo for the progressive-delivery suites: `hello` on two in-cluster us-east-1 targets,
 * rolled out in two waves, the canary (`canary`) baking `bakeSeconds` before the rest (`fleet`).
 */
export const writeTwoWaveFleet = (
  dir: string,
  options: { canary: string; fleet: string; bakeSeconds: number; greeting: string },
): Promise<void> =>
  writeHelloFleet(dir, {
    targets: `${inClusterTarget(options.canary)}${inClusterTarget(options.fleet)}`,
    app: `    rollout:
      waves:
        - { name: canary, targets: { names: [${options.canary}] }, bakeSeconds: ${options.bakeSeconds} }
        - { name: fleet }
`,
    greeting: options.greeting,
  });

export const helloConfigMap = (greeting: string): string => `apiVersion: v1
kind: ConfigMap
metadata:
  name: hello
  labels:
    app.kubernetes.io/name: hello
data:
  GREETING: ${greeting}
`;

/**
 * CloudWatch's "Alarm State Change" (into ALARM) for alarm `name`, put on `region`'s default bus
 * as CloudWatch puts it: the pipeline's own rule takes it to the rollback queue. `events`: the
 * client of another account (default: the emulator's own credentials in `region`).
 */
export const putAlarmEvent = async (
  aws: AwsSettings,
  name: string,
  region = aws.region,
  events = new EventBridgeClient(clientConfig({ ...aws, region })),
): Promise<void> => {
  const event = cloudWatchAlarmEvent({ id: randomUUID(), name, at: new Date(), region });
  const out = await events.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: event.source,
          DetailType: event['detail-type'],
          Detail: JSON.stringify(event.detail),
          Resources: event.resources,
        },
      ],
    }),
  );
  if ((out.FailedEntryCount ?? 0) > 0) throw new Error(`PutEvents refused the alarm event of ${name}`);
};
