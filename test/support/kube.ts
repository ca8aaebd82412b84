/**
 * A real Kubernetes API server for tests, with no Docker: etcd and kube-apiserver built from the
 * Go module proxy by scripts/kube/build.sh (cached in `.cache/kube/bin`), started on 127.0.0.1
 * ephemeral ports with static-token auth and RBAC, and stopped after the run.
 *
 * There are no controllers and no kubelet: tests play them by writing `/status`.
 *
 * Used as the vitest globalSetup of vitest.k8s.config.ts (default export): it provides `kube`
 * (see KubeEnv) to the suites through `inject('kube')`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { EKS_VECTOR } from '../fixtures/eks-token-vector.ts';

const run = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const KUBE_BIN = join(REPO_ROOT, '.cache', 'kube', 'bin');
/** The user the agent token authenticates as; deploy/agent/rbac.yaml's ClusterRole is bound to it. */
export const AGENT_USER = 'sluice-agent';

export interface KubeEnv {
  readonly server: string;
  readonly ca: string;
  readonly adminToken: string;
  readonly agentToken: string;
  /** kubeconfig files, for tools and for `sluice agent --kubeconfig`. */
  readonly adminKubeconfig: string;
  readonly agentKubeconfig: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    kube: KubeEnv;
  }
}

export const freePort = (): Promise<number> =>
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

/** Builds the binaries when they are missing (a cold build takes minutes; see docs/agent.md). */
export const ensureBinaries = async (): Promise<{ etcd: string; apiserver: string }> => {
  const etcd = join(KUBE_BIN, 'etcd');
  const apiserver = join(KUBE_BIN, 'kube-apiserver');
  if (!existsSync(etcd) || !existsSync(apiserver)) {
    await run('bash', [join(REPO_ROOT, 'scripts', 'kube', 'build.sh')], {
      cwd: REPO_ROOT,
      maxBuffer: 64 * 1024 * 1024,
    });
  }
  return { etcd, apiserver };
};

/**
 * Runs `bin args` under a guard shell: the child dies when our stdin pipe closes (this process
 * exited, however it exited) and after a hard cap of 30 minutes, so no server outlives its run.
 */
const guarded = (bin: string, args: string[], log: string): ChildProcess => {
  const out = openSync(log, 'a');
  const script =
    'timeout 1800 "$0" "$@" & pid=$!; trap \'kill $pid 2>/dev/null\' TERM INT; read _ignored; kill $pid 2>/dev/null; wait $pid';
  return spawn('sh', ['-c', script, bin, ...args], { detached: true, stdio: ['pipe', out, out] });
};

const stop = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }, 10_000);
  await exited;
  clearTimeout(timer);
};

const waitFor = async (what: string, probe: () => Promise<boolean>, child: ChildProcess, log: string) => {
  for (let attempt = 0; attempt < 600; attempt += 1) {
    if (child.exitCode !== null) {
      throw new Error(
        `${what} exited with ${child.exitCode}; its log: ${log}\n${readFileSync(log, 'utf8').slice(-3000)}`,
      );
    }
    if (await probe().catch(() => false)) return;
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`${what} did not become ready within 120 s; its log: ${log}`);
};

const kubeconfig = (server: string, ca: string, user: string, token: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'test', cluster: { server, 'certificate-authority-data': Buffer.from(ca).toString('base64') } },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user } }],
    'current-context': 'test',
  });

/** A request to the test server as admin (setup, playing controllers). */
export const kubeRequest = async (
  env: Pick<KubeEnv, 'server' | 'ca'> & { token: string },
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; json: unknown }> => {
  const { request } = await import('node:https');
  const url = new URL(path, env.server);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((ok, fail) => {
    const req = request(
      url,
      {
        method,
        ca: env.ca,
        headers: {
          authorization: `Bearer ${env.token}`,
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': contentType }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = text;
          try {
            json = JSON.parse(text);
          } catch {}
          ok({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', fail);
    req.end(payload);
  });
};

export interface RunningKube {
  readonly env: KubeEnv;
  stop(): Promise<void>;
}

/**
 * Starts etcd and kube-apiserver; resolves when /readyz answers ok. `serviceRange`: the Service
 * ClusterIP range (default a /24, 254 Services; the peers bench creates thousands).
 */
export const startKube = async (options: { serviceRange?: string } = {}): Promise<RunningKube> => {
  const { etcd, apiserver } = await ensureBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-kube-'));
  const [clientPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const adminToken = randomBytes(24).toString('hex');
  const agentToken = randomBytes(24).toString('hex');
  writeFileSync(
    join(dir, 'tokens.csv'),
    // The known-good EKS token (test/fixtures/eks-token-vector.ts) authenticates as the agent too.
    `${adminToken},sluice-admin,uid-admin,"system:masters"\n${agentToken},${AGENT_USER},uid-agent\n${EKS_VECTOR.token},${AGENT_USER},uid-agent-eks\n`,
    { mode: 0o600 },
  );
  await run('openssl', ['genrsa', '-out', join(dir, 'sa.key'), '2048']);
  await run('openssl', ['rsa', '-in', join(dir, 'sa.key'), '-pubout', '-out', join(dir, 'sa.pub')]);
  mkdirSync(join(dir, 'certs'));

  const etcdUrl = `http://127.0.0.1:${clientPort}`;
  const etcdLog = join(dir, 'etcd.log');
  const etcdProcess = guarded(
    etcd,
    [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    etcdLog,
  );
  const children = [etcdProcess];
  const stopAll = async () => {
    for (const child of children.reverse()) await stop(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('etcd', async () => (await fetch(`${etcdUrl}/health`)).ok, etcdProcess, etcdLog);
    const apiLog = join(dir, 'kube-apiserver.log');
    const apiProcess = guarded(
      apiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'certs')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--anonymous-auth=false',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-cluster-ip-range=${options.serviceRange ?? '10.96.0.0/24'}`,
        '--enable-priority-and-fairness=false',
        '--profiling=false',
        '--v=0',
      ],
      apiLog,
    );
    children.push(apiProcess);
    // The self-signed serving certificate (for localhost and 127.0.0.1) is written at start-up.
    const caFile = join(dir, 'certs', 'apiserver.crt');
    const server = `https://127.0.0.1:${apiPort}`;
    let ca = '';
    await waitFor(
      'kube-apiserver',
      async () => {
        if (!existsSync(caFile)) return false;
        ca = readFileSync(caFile, 'utf8');
        const res = await kubeRequest({ server, ca, token: adminToken }, 'GET', '/readyz');
        return res.status === 200;
      },
      apiProcess,
      apiLog,
    );
    const adminKubeconfig = join(dir, 'admin.kubeconfig');
    const agentKubeconfig = join(dir, 'agent.kubeconfig');
    writeFileSync(adminKubeconfig, kubeconfig(server, ca, 'sluice-admin', adminToken), { mode: 0o600 });
    writeFileSync(agentKubeconfig, kubeconfig(server, ca, AGENT_USER, agentToken), { mode: 0o600 });
    return {
      env: { server, ca, adminToken, agentToken, adminKubeconfig, agentKubeconfig },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
};

/** vitest globalSetup: one API server for the whole k8s run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const kube = await startKube();
  console.log(`kube-apiserver ready at ${kube.env.server} in ${Date.now() - started} ms`);
  project.provide('kube', kube.env);
  return () => kube.stop();
}
