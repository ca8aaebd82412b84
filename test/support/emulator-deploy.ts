/**
 * `cdk deploy` of the real CDK app into an emulator: synth (outside the repo, so the function
 * bundles are staged as their own assets), `cdk bootstrap`, `cdk deploy --all`, stack outputs.
 * The pinned aws-cdk CLI reaches the emulator through AWS_ENDPOINT_URL, like every SDK v3 client.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './emulator.ts';

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
 * A config repo for the emulator suites: one app (a ConfigMap) on one AWS target in us-east-1;
 * `alarms` names CloudWatch alarms that roll `hello` back.
 */
export const SEED_TARGET = 'e2e-use1';
export const writeSeedFleet = async (
  dir: string,
  account = '000000000000',
  options: { alarms?: readonly string[] } = {},
): Promise<void> => {
  await mkdir(join(dir, 'apps', 'hello'), { recursive: true });
  await writeFile(
    join(dir, 'sluice.yaml'),
    `apiVersion: sluice.dev/v1
kind: Fleet
targets:
  - name: ${SEED_TARGET}
    cloud: aws
    region: us-east-1
    account: "${account}"
    labels: { env: e2e }
    cluster: { kind: directory }
    agent: in-cluster
apps:
  - name: hello
    path: apps/hello
    namespace: hello
    targets: {}
${options.alarms?.length ? `    alarms: [${options.alarms.map((name) => `{ name: ${name} }`).join(', ')}]\n` : ''}`,
  );
  await writeFile(
    join(dir, 'apps', 'hello', 'configmap.yaml'),
    helloConfigMap('hello from the deployed stack'),
  );
};

export const helloConfigMap = (greeting: string): string => `apiVersion: v1
kind: ConfigMap
metadata:
  name: hello
  labels:
    app.kubernetes.io/name: hello
data:
  GREETING: ${greeting}
`;
