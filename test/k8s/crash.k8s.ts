import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeObject } from '../../shared/ports/index.ts';
import { REPO_ROOT } from '../support/kube.ts';
import {
  configMap,
  countOwnedConfigMaps,
  getObject,
  grantAgentRbac,
  harness,
  namespace,
  spawnNode,
  uniqueName,
} from './harness.ts';

const kube = inject('kube');

beforeAll(async () => {
  await grantAgentRbac(kube);
});

const runAgent = (args: string[]) => spawnNode([join(REPO_ROOT, 'test/k8s/fixtures/agent-once.ts'), ...args]);
const countConfigMaps = (ns: string) => countOwnedConfigMaps(kube, ns);

describe('agent crash mid-apply', () => {
  it('converges when the agent is killed mid-apply and the delivery comes again', async () => {
    // GIVEN generation 1 applied: a ConfigMap to keep, one to drop, and a Secret from a reference
    const h = harness(kube);
    const ns = uniqueName('crash');
    const value = `crash-secret-${uniqueName('v')}`;
    const secretsFile = join(h.bundleDir, 'secrets.json');
    writeFileSync(secretsFile, JSON.stringify({ 'aws-sm://crash/db#pw': value }));
    h.secrets.set('aws-sm://crash/db#pw', value);
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db', namespace: ns },
      stringData: { pw: 'aws-sm://crash/db#pw' },
    };
    const first = await h.deliver(
      'crashy',
      [namespace(ns), secret, configMap(ns, 'keep'), configMap(ns, 'drop')],
      1,
    );
    expect(first.detailType).toBe('Deployment Succeeded');

    // WHEN generation 2 (drop removed, 150 ConfigMaps added) is applied by an agent process killed mid-way
    const many = Array.from({ length: 150 }, (_, i) => configMap(ns, `cm-${String(i).padStart(3, '0')}`));
    const request = await h.request('crashy', [namespace(ns), secret, configMap(ns, 'keep'), ...many], 2);
    const requestFile = join(h.bundleDir, 'request.json');
    writeFileSync(requestFile, JSON.stringify(request));
    const args = [kube.agentKubeconfig, h.bundleDir, h.eventsFile, requestFile, secretsFile];
    const killed = runAgent(args);
    for (let i = 0; i < 1500 && (await countConfigMaps(ns)) < 10; i += 1) {
      await new Promise((ok) => setTimeout(ok, 20));
    }
    killed.child.kill('SIGKILL');
    await killed.exited;
    const partial = await countConfigMaps(ns);
    // (the kill really landed mid-apply: some of the new ConfigMaps exist, not all)
    expect(partial).toBeGreaterThan(2);
    expect(partial).toBeLessThan(152);
    expect((await h.cluster.readInventory('crashy'))?.generation).toBe(1);

    // AND the queue delivers the same message again to a new agent process
    const again = runAgent(args);
    const code = await again.exited;

    // THEN the cluster holds exactly generation 2: every new object, the dropped one pruned
    expect(code).toBe(0);
    expect(await countConfigMaps(ns)).toBe(151);
    expect(await getObject(kube, `/api/v1/namespaces/${ns}/configmaps/drop`)).toBeUndefined();
    const inventory = await h.cluster.readInventory('crashy');
    expect(inventory?.generation).toBe(2);
    expect(inventory?.objects).toHaveLength(153);
    const events = readFileSync(h.eventsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({
      'detail-type': 'Deployment Succeeded',
      detail: { generation: 2, pruned: 1 },
    });
    // AND the secret value reached the cluster but no log line, event or bundle
    const live = await getObject(kube, `/api/v1/namespaces/${ns}/secrets/db`);
    expect(Buffer.from(live?.data.pw, 'base64').toString()).toBe(value);
    expect(killed.output() + again.output()).not.toContain(value);
    expect(readFileSync(h.eventsFile, 'utf8')).not.toContain(value);
    expect(readFileSync(join(h.bundleDir, request.bundle.key), 'utf8')).not.toContain(value);
  });
});
