import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { remoteRepo } from '../../cli/runtime/dev-edge.ts';
import { kubeconfigTargets } from '../../shared/adapters/k8s/kubeconfig-targets.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { kubeconfigFiles } from '../../shared/config/env.ts';
import { isSluiceError } from '../../shared/errors.ts';
import type { TargetRef } from '../../shared/schemas/events.ts';

const TOKEN = 'kubeconfig-token-that-must-never-leak';

const kubeconfig = (contexts: string[], current: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: contexts.map((c) => ({ name: c, cluster: { server: `https://127.0.0.1:1/${c}` } })),
    users: contexts.map((c) => ({ name: c, user: { token: TOKEN } })),
    contexts: contexts.map((c) => ({ name: c, context: { cluster: c, user: c } })),
    'current-context': current,
  });

const ref = (context?: string): TargetRef => ({
  name: 'edge',
  cloud: 'other',
  region: 'local',
  agent: 'in-cluster',
  cluster: { kind: 'kubeconfig', ...(context ? { context } : {}) },
});

/** The error a cluster client fails with (reading an inventory is its first call in every delivery). */
const refusal = async (client: { readInventory(app: string): Promise<unknown> }) => {
  const error = await client.readInventory('web').then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isSluiceError(error)) throw new Error(`expected a SluiceError, got ${String(error)}`);
  return error;
};

describe('kubeconfigTargets', () => {
  const setup = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-kubeconfig-'));
    const file = path.join(dir, 'config');
    await writeFile(file, kubeconfig(['kind-dev', 'prod-admin'], 'kind-dev'), { mode: 0o600 });
    const fallback = (target: string) => new DirectoryCluster(path.join(dir, target));
    return { dir, file, fallback };
  };

  it('refuses a context the operator did not allow, naming it and the flag, never the kubeconfig', async () => {
    // GIVEN a kubeconfig with a prod context, and only the current context allowed (no --kube-context)
    const { file, fallback } = await setup();
    const clusters = kubeconfigTargets({ files: [file] }, fallback);
    // WHEN a repo's target names the prod context THEN every call fails, non-retryable
    const error = await refusal(clusters('edge', ref('prod-admin')));
    expect(error.code).toBe('KUBE_CONTEXT_REFUSED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('--kube-context prod-admin');
    expect(JSON.stringify({ message: error.message, data: error.data })).not.toContain(TOKEN);
  });

  it('refuses a context the kubeconfig does not define even when allowed', async () => {
    const { file, fallback } = await setup();
    const clusters = kubeconfigTargets({ files: [file], allowedContexts: ['nowhere'] }, fallback);
    const error = await refusal(clusters('edge', ref('nowhere')));
    expect(error.code).toBe('KUBE_CONTEXT_REFUSED');
    expect(error.message).toContain('does not define');
  });

  it('uses an allowed context, the current one by default, and directories for other targets', async () => {
    const { file, fallback } = await setup();
    const clusters = kubeconfigTargets({ files: [file], allowedContexts: ['kind-dev'] }, fallback);
    // The current context is used when the target names none; it is a Kubernetes client, not a refusal.
    expect(clusters('edge', ref()).constructor.name).toBe('KubernetesCluster');
    expect(clusters('edge', ref('kind-dev')).constructor.name).toBe('KubernetesCluster');
    // A later call that names only the target (a drift check) reaches the same kind of cluster.
    expect(clusters('edge').constructor.name).toBe('KubernetesCluster');
    expect(clusters('other', { ...ref(), cluster: { kind: 'eks' } })).toBeInstanceOf(DirectoryCluster);
  });

  it('says which files it looked at when there is no kubeconfig', async () => {
    const { dir, fallback } = await setup();
    const missing = path.join(dir, 'absent');
    const error = await refusal(kubeconfigTargets({ files: [missing] }, fallback)('edge', ref()));
    expect(error.code).toBe('KUBECONFIG_INVALID');
    expect(error.message).toContain(missing);
  });
});

describe('kubeconfigFiles', () => {
  it('resolves as kubectl: the flag, else every KUBECONFIG file, else ~/.kube/config', () => {
    expect(kubeconfigFiles('/x/flag', '/home/u', { KUBECONFIG: '/a:/b' })).toEqual(['/x/flag']);
    expect(kubeconfigFiles(undefined, '/home/u', { KUBECONFIG: '/a::/b' })).toEqual(['/a', '/b']);
    expect(kubeconfigFiles(undefined, '/home/u', {})).toEqual(['/home/u/.kube/config']);
  });
});

describe('remoteRepo (sluice dev --repo)', () => {
  it('names a followed repo by its URL path, as provider webhooks do', () => {
    expect(remoteRepo('https://github.com/acme/fleet.git', { port: 0, gitPort: 0 })).toEqual({
      name: 'acme/fleet',
      url: 'https://github.com/acme/fleet.git',
      branches: ['main'],
    });
    expect(
      remoteRepo('http://127.0.0.1:9/fleet.git', { port: 0, gitPort: 0, branch: ['dev'] }),
    ).toMatchObject({
      name: 'remote/fleet',
      branches: ['dev'],
    });
  });

  it.each([
    ['https://user:ghp_secret@github.com/acme/fleet.git', 'credentials'],
    ['git@github.com:acme/fleet.git', 'SSH'],
    ['ssh://git@github.com/acme/fleet.git', 'SSH'],
    ['file:///etc/passwd', 'HTTP(S)'],
    ['--upload-pack=touch /tmp/x', 'not a URL'],
  ])('refuses %s with the fix', (url, why) => {
    const error = (() => {
      try {
        remoteRepo(url, { port: 0, gitPort: 0 });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isSluiceError(error) && error.message).toContain(why);
    // The token in a refused URL is never echoed back.
    expect(String((error as Error).message)).not.toContain('ghp_secret');
  });
});
