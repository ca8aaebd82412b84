/**
 * `sluice dev` on a real cluster and a remote repo: the example fleet in a repository served by a
 * separate git server process (as a provider would serve it), followed with `--repo` by polling,
 * with one target a kubeconfig target on the test kube-apiserver. The agent user's kubeconfig is
 * the operator's; the repo only names its context.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, startDev } from '../../cli/commands/dev.ts';
import { initBareRepo } from '../../shared/adapters/local/git-server.ts';
import { agentQueueName } from '../../shared/routing.ts';
import type { Envelope } from '../../shared/schemas/events.ts';
import { EXAMPLE_FLEET, git, spawnGitServer, tempDir, waitFor } from '../support/dev-harness.ts';
import { admin, completeRollout, getObject, grantAgentRbac } from './harness.ts';

const kube = inject('kube');
const TARGET = 'staging-use1';

let dir: string;
let server: { url: string; stop(): void };
let repoUrl: string;
let dev: DevServer;
let clone: string;
const printed: string[] = [];

const events = (type: string): Envelope[] => dev.pipeline.bus.events.filter((e) => e['detail-type'] === type);
const detail = (e: Envelope) => e.detail as Record<string, unknown>;

/** Plays the controllers: marks the example fleet's workloads on the cluster rolled out. */
const playControllers = async () => {
  for (const [ns, name] of [
    ['guestbook', 'guestbook'],
    ['api', 'api'],
  ] as const) {
    if (await getObject(kube, `/apis/apps/v1/namespaces/${ns}/deployments/${name}`)) {
      await completeRollout(kube, ns, name);
    }
  }
  const dsPath = '/apis/apps/v1/namespaces/monitoring/daemonsets/metrics-agent';
  const ds = await getObject(kube, dsPath);
  if (ds) {
    await admin(kube).request(
      'PATCH',
      `${dsPath}/status`,
      {
        status: {
          observedGeneration: ds.metadata.generation,
          desiredNumberScheduled: 1,
          currentNumberScheduled: 1,
          updatedNumberScheduled: 1,
          numberReady: 1,
          numberAvailable: 1,
          numberMisscheduled: 0,
        },
      },
      'application/merge-patch+json',
    );
  }
};

/** Waits until every (app, target) on the kubeconfig target reports for `commit`, playing the controllers meanwhile. */
const deployedAt = async (commit: string, apps: readonly string[]) =>
  waitFor(
    `${apps.join(', ')} on ${TARGET} to report for ${commit.slice(0, 7)}`,
    async () => {
      await playControllers();
      const done = [...events('Deployment Succeeded'), ...events('Deployment Failed')].filter(
        (e) => detail(e).target === TARGET && detail(e).commit === commit,
      );
      return apps.every((app) => done.some((e) => detail(e).app === app)) ? done : undefined;
    },
    90_000,
  );

beforeAll(async () => {
  await grantAgentRbac(kube);
  // The namespaces an admin creates for the apps (the example fleet ships only monitoring's).
  for (const ns of ['guestbook', 'api']) {
    await admin(kube).request('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns },
    });
  }
  dir = await tempDir('dev-kube');
  // The example fleet, with staging-use1 a kubeconfig target on the operator's context "test",
  // and staging-euw1 naming a context the operator never allowed.
  const seed = path.join(dir, 'seed');
  await cp(EXAMPLE_FLEET, seed, { recursive: true });
  const config = (await readFile(path.join(seed, 'sluice.yaml'), 'utf8'))
    .replace(
      /(name: staging-use1[\s\S]*?)cluster: \{ kind: eks, name: staging-use1 \}/,
      '$1cluster: { kind: kubeconfig, context: test }',
    )
    .replace(
      /(name: staging-euw1[\s\S]*?)cluster: \{ kind: eks, name: staging-euw1 \}/,
      '$1cluster: { kind: kubeconfig, context: prod-admin }',
    );
  expect(config).toContain('context: prod-admin');
  await writeFile(path.join(seed, 'sluice.yaml'), config);
  await initBareRepo(path.join(dir, 'remote'), 'fleet', seed);

  server = await spawnGitServer(path.join(dir, 'remote'));
  repoUrl = `${server.url}/fleet.git`;

  dev = await startDev(
    {
      workdir: path.join(dir, 'work'),
      port: 0,
      gitPort: 0,
      webhookSecret: 'test-webhook-secret',
      seed: EXAMPLE_FLEET,
      coalesceMs: 200,
      repo: repoUrl,
      pollSeconds: 1,
      kubeconfig: kube.agentKubeconfig,
      kubeContext: ['test'],
    },
    (line) => printed.push(line),
  );
  clone = path.join(dir, 'clone');
  await git(dir, 'clone', '--quiet', repoUrl, clone);
}, 120_000);

afterAll(async () => {
  await dev?.stop();
  server?.stop();
  // The namespaces stay: with no namespace controller a deleted one would be Terminating for good.
  await admin(kube).request(
    'DELETE',
    '/api/v1/namespaces/sluice-system/configmaps?labelSelector=sluice.dev%2Finventory',
  );
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('sluice dev --repo URL with a kubeconfig target', () => {
  it('deploys the example fleet from the remote repo to the cluster and reports it healthy', async () => {
    // GIVEN the remote's head WHEN sluice dev follows it THEN every app selecting staging-use1 lands on the cluster
    const head = await git(clone, 'rev-parse', 'HEAD');
    const outcomes = await deployedAt(head, ['guestbook', 'api', 'metrics-agent']);
    expect(outcomes.map((e) => [detail(e).app, e['detail-type']]).sort()).toEqual([
      ['api', 'Deployment Succeeded'],
      ['guestbook', 'Deployment Succeeded'],
      ['metrics-agent', 'Deployment Succeeded'],
    ]);
    const config = await getObject(kube, '/api/v1/namespaces/guestbook/configmaps/guestbook-config');
    expect(config?.metadata.labels).toMatchObject({ 'sluice.dev/app': 'guestbook' });
    // The Secret's reference was resolved from the dev secret store at apply time.
    const secret = await getObject(kube, '/api/v1/namespaces/api/secrets/api-db');
    expect(
      Buffer.from(String((secret?.data as Record<string, string> | undefined)?.url), 'base64').toString(),
    ).toContain('postgres://');
    const record = await dev.pipeline.ledger.getDeployment('guestbook', TARGET);
    expect(record?.state).toBe('Healthy');
    expect(printed.join('\n')).toContain(`following: ${repoUrl}`);
    // Kubeconfig content never reaches the output.
    expect(printed.join('\n')).not.toContain(kube.agentToken);
  });

  it('refuses a target naming a kubeconfig context the operator did not allow', async () => {
    const head = await git(clone, 'rev-parse', 'HEAD');
    const refused = await waitFor('staging-euw1 to fail', async () => {
      const failed = events('Deployment Failed').filter(
        (e) => detail(e).target === 'staging-euw1' && detail(e).commit === head,
      );
      return failed.length > 0 ? failed : undefined;
    });
    expect(detail(refused[0]!).reason).toBe('KUBE_CONTEXT_REFUSED');
    expect(String(detail(refused[0]!).message)).toContain('--kube-context prod-admin');
  });

  it('deploys a push made on the remote, pruning what left the app', async () => {
    // GIVEN the guestbook Service is live WHEN a push on the remote drops it and retitles the page
    expect(await getObject(kube, '/api/v1/namespaces/guestbook/services/guestbook')).toBeDefined();
    const configFile = path.join(clone, 'apps/guestbook/configmap.yaml');
    await writeFile(configFile, (await readFile(configFile, 'utf8')).replace('Sluice guestbook', 'Hello'));
    await rm(path.join(clone, 'apps/guestbook/service.yaml'));
    await git(clone, 'commit', '--quiet', '-am', 'retitle, drop the service');
    await git(clone, 'push', '--quiet', 'origin', 'HEAD:main');
    const head = await git(clone, 'rev-parse', 'HEAD');
    // THEN the poll finds it and the cluster follows: the ConfigMap changed, the Service pruned
    const [outcome] = await deployedAt(head, ['guestbook']);
    expect(outcome?.['detail-type']).toBe('Deployment Succeeded');
    expect(detail(outcome!).pruned).toBe(1);
    const config = await getObject(kube, '/api/v1/namespaces/guestbook/configmaps/guestbook-config');
    expect(JSON.stringify(config?.data)).toContain('Hello');
    expect(await getObject(kube, '/api/v1/namespaces/guestbook/services/guestbook')).toBeUndefined();
  });

  it('reports drift made on the cluster behind its back', async () => {
    // GIVEN someone scales the guestbook by hand
    const res = await admin(kube).request(
      'PATCH',
      '/apis/apps/v1/namespaces/guestbook/deployments/guestbook?fieldManager=kubectl-edit',
      { spec: { replicas: 5 } },
      'application/merge-patch+json',
    );
    expect(res.status).toBe(200);
    // WHEN the target's drift check runs (the schedule's message on the agent queue)
    dev.pipeline.queues.get(agentQueueName('us-east-1'))?.send([
      {
        body: JSON.stringify({
          schemaVersion: 1,
          requestedBy: 'test',
          targets: [TARGET],
          apps: ['guestbook'],
        }),
        groupId: TARGET,
      },
    ]);
    // THEN Drift Detected names the field and who changed it
    const [drift] = await waitFor('Drift Detected', async () => {
      const found = events('Drift Detected').filter((e) => detail(e).target === TARGET);
      return found.length > 0 ? found : undefined;
    });
    expect(JSON.stringify(detail(drift!))).toContain('spec.replicas');
  });

  it('removes an app deleted from sluice.yaml, and only the objects it owns', async () => {
    // GIVEN objects in the guestbook namespace that are not the guestbook app's: one without
    // Sluice's labels, one of an app named like it, and a tampered inventory that lists the first
    const { request } = admin(kube);
    await request('POST', '/api/v1/namespaces/guestbook/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'hand-made' },
      data: { owner: 'a human' },
    });
    await request('POST', '/api/v1/namespaces/guestbook/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'lookalike',
        labels: { 'app.kubernetes.io/managed-by': 'sluice', 'sluice.dev/app': 'guestbook-v2' },
      },
    });
    const inventoryPath = '/api/v1/namespaces/sluice-system/configmaps/sluice-inventory-guestbook';
    const inventory = JSON.parse(
      String(((await getObject(kube, inventoryPath))?.data as Record<string, string> | undefined)?.inventory),
    ) as { objects: string[] };
    inventory.objects.push('v1/ConfigMap/guestbook/hand-made', 'v1/ConfigMap/guestbook/lookalike');
    await request(
      'PATCH',
      inventoryPath,
      { data: { inventory: JSON.stringify(inventory) } },
      'application/merge-patch+json',
    );

    // WHEN a push on the remote deletes the guestbook app from sluice.yaml (its sync.prune was on)
    const configFile = path.join(clone, 'sluice.yaml');
    const config = await readFile(configFile, 'utf8');
    const start = config.indexOf('  - name: guestbook');
    const end = config.indexOf('  # (b)', start);
    expect(start).toBeGreaterThan(0);
    await writeFile(configFile, config.slice(0, start) + config.slice(end));
    await git(clone, 'commit', '--quiet', '-am', 'retire the guestbook');
    await git(clone, 'push', '--quiet', 'origin', 'HEAD:main');
    const head = await git(clone, 'rev-parse', 'HEAD');

    // THEN Deployment Removed: its Deployment and ConfigMap are gone, nothing else is
    const [removed] = await waitFor(
      'guestbook to be removed',
      async () => {
        const found = events('Deployment Removed').filter(
          (e) => detail(e).target === TARGET && detail(e).commit === head,
        );
        return found.length > 0 ? found : undefined;
      },
      60_000,
    );
    expect(detail(removed!)).toMatchObject({ app: 'guestbook', reason: 'app-removed', removed: 2 });
    expect(await getObject(kube, '/apis/apps/v1/namespaces/guestbook/deployments/guestbook')).toBeUndefined();
    expect(await getObject(kube, '/api/v1/namespaces/guestbook/configmaps/guestbook-config')).toBeUndefined();
    expect(await getObject(kube, '/api/v1/namespaces/guestbook/configmaps/hand-made')).toBeDefined();
    expect(await getObject(kube, '/api/v1/namespaces/guestbook/configmaps/lookalike')).toBeDefined();
    expect(await getObject(kube, '/apis/apps/v1/namespaces/api/deployments/api')).toBeDefined();
    expect((await dev.pipeline.ledger.getDeployment('guestbook', TARGET))?.state).toBe('Removed');
    expect(
      events('Removal Requested').map(
        (e) => `${detail(e).app}@${(detail(e).target as { name: string }).name}`,
      ),
    ).toContain(`guestbook@${TARGET}`);
  });

  it('keeps the objects of a removed app whose last deployed config had prune off', async () => {
    // GIVEN api deployed with sync.prune: false
    const configFile = path.join(clone, 'sluice.yaml');
    const config = await readFile(configFile, 'utf8');
    expect(config).toContain('sync: { prune: true, selfHeal: true }');
    await writeFile(
      configFile,
      config.replace('sync: { prune: true, selfHeal: true }', 'sync: { prune: false, selfHeal: true }'),
    );
    await git(clone, 'commit', '--quiet', '-am', 'api: prune off');
    await git(clone, 'push', '--quiet', 'origin', 'HEAD:main');
    await deployedAt(await git(clone, 'rev-parse', 'HEAD'), ['api']);
    // WHEN api is taken off every target (its selector matches none)
    await writeFile(
      configFile,
      (await readFile(configFile, 'utf8')).replace('values: [staging, prod] }', 'values: [nowhere] }'),
    );
    await git(clone, 'commit', '--quiet', '-am', 'api: no targets');
    await git(clone, 'push', '--quiet', 'origin', 'HEAD:main');
    const head = await git(clone, 'rev-parse', 'HEAD');
    // THEN the agent declines: Deployment Skipped (prune-disabled), the objects stay
    const [skipped] = await waitFor(
      'the removal of api to be declined',
      async () => {
        const found = events('Deployment Skipped').filter(
          (e) => detail(e).target === TARGET && detail(e).commit === head && detail(e).app === 'api',
        );
        return found.length > 0 ? found : undefined;
      },
      60_000,
    );
    expect(detail(skipped!).reason).toBe('prune-disabled');
    expect(await getObject(kube, '/apis/apps/v1/namespaces/api/deployments/api')).toBeDefined();
  });
});
