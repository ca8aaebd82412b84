import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configMap, smallRepo } from '../../bench/lib/fixtures.ts';
import { type Fleet, startFleet, until } from '../../bench/lib/fleet.ts';
import { FileBundleStore } from '../../shared/adapters/local/bundle-store.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { UnavailableError } from '../../shared/errors.ts';
import type { ClusterClient } from '../../shared/ports/index.ts';
import { convergedToHeads, inventoryOf, sluiceStatus } from './support.ts';

const change = (n: number) => ({ 'apps/app-0/configmap.yaml': configMap('app-0', `v${n}`) });
const TWO_TARGETS = { r0: 2 };

/** Waits until the named queue holds a message that has already failed `times` receives. */
const failedReceives = (fleet: Fleet, queue: string, times: number) =>
  until(`a message on ${queue} to fail ${times} time(s)`, () =>
    fleet.pipeline.queues
      .get(queue)
      ?.peek()
      .some((m) => m.receiveCount >= times)
      ? true
      : undefined,
  );

const expectStatusAtHead = async (fleet: Fleet, repoHead: string) => {
  const status = await sluiceStatus(fleet);
  expect(status.length).toBeGreaterThan(0);
  for (const d of status)
    expect({ ...d, commit: d.commit.slice(0, 7) }).toMatchObject({
      commit: repoHead.slice(0, 7),
      state: 'Healthy',
    });
};

describe('faults: every target converges to its branch head afterwards', () => {
  let fleet: Fleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
  });

  it('survives the git server going down during a fetch', async () => {
    // GIVEN a deployed repo and a git server that is then stopped
    fleet = await startFleet({ repos: { r0: smallRepo(0) }, retryDelayMs: 300 });
    await convergedToHeads(fleet, TWO_TARGETS);
    await fleet.git.close();
    // WHEN a push arrives while the server is down, and the planner's fetch fails
    await fleet.commit('r0', change(1));
    await failedReceives(fleet, 'sluice-plan.fifo', 1);
    await fleet.restartGit();
    // THEN once the server is back, the push is planned and both targets reach the head
    await convergedToHeads(fleet, TWO_TARGETS);
    expect(fleet.pipeline.deadLetters.get('sluice-plan-dlq.fifo')?.depth).toBe(0);
    await expectStatusAtHead(fleet, await fleet.head('r0'));
  });

  it('survives the bundle store failing writes', async () => {
    // GIVEN a bundle store that rejects writes (its failure switch, as S3 throttling would)
    const workdir = await mkdtemp(path.join(tmpdir(), 'sluice-bundles-'));
    const bundles = new FileBundleStore(workdir);
    fleet = await startFleet({ repos: { r0: smallRepo(0) }, retryDelayMs: 300, bundles, workdir });
    await convergedToHeads(fleet, TWO_TARGETS);
    bundles.failWrites = true;
    // WHEN a push is rendered while writes fail
    await fleet.commit('r0', change(1));
    await failedReceives(fleet, 'sluice-render', 1);
    bundles.failWrites = false;
    // THEN the render is retried and both targets reach the head
    await convergedToHeads(fleet, TWO_TARGETS);
    expect(fleet.pipeline.deadLetters.get('sluice-render-dlq')?.depth).toBe(0);
    await expectStatusAtHead(fleet, await fleet.head('r0'));
    await rm(workdir, { recursive: true, force: true });
  });

  it('parks poison messages in the dead-letter queues with their reasons while the rest proceed', async () => {
    // GIVEN a deployed repo
    fleet = await startFleet({ repos: { r0: smallRepo(0) } });
    await convergedToHeads(fleet, TWO_TARGETS);
    // WHEN garbage lands on the dispatch and agent queues next to a good push
    fleet.pipeline.queues.get('sluice-dispatch')?.send([{ body: 'not json at all' }]);
    fleet.pipeline.queues
      .get('sluice-agent-us-east-1.fifo')
      ?.send([
        { body: JSON.stringify({ schemaVersion: 1, app: 'app-0', generation: 'many' }), groupId: 'garbage' },
      ]);
    await fleet.commit('r0', change(1));
    // THEN the good push deploys, and each poison message sits in its DLQ saying why
    await convergedToHeads(fleet, TWO_TARGETS);
    const reasons = (dlq: string) =>
      (fleet?.pipeline.deadLetters.get(dlq)?.peek() ?? []).map((m) => m.attributes.deadLetterReason);
    expect(reasons('sluice-dispatch-dlq')).toEqual([expect.stringMatching(/body is not JSON/)]);
    expect(reasons('sluice-agent-us-east-1-dlq.fifo')).toEqual([expect.stringMatching(/\S/)]);
    await expectStatusAtHead(fleet, await fleet.head('r0'));
  });

  it('finishes an apply after the agent is killed half-way through it', async () => {
    // GIVEN targets whose agent dies after writing one object of a bundle. A directory cannot be
    // made to kill its writer, so the death is injected: one object is written, then the apply
    // throws a retryable error, as a killed agent's message reappears after its visibility timeout.
    let killNext = false;
    const workdir = await mkdtemp(path.join(tmpdir(), 'sluice-killed-'));
    const clusters = new Map<string, ClusterClient>();
    const cluster = (target: string): ClusterClient => {
      const existing = clusters.get(target);
      if (existing) return existing;
      const real = new DirectoryCluster(path.join(workdir, 'targets', target));
      // Everything but apply is the real target's (whatever else the port grows).
      const dying = Object.create(real) as DirectoryCluster;
      dying.apply = async (app, objects, options) => {
        if (!killNext) return real.apply(app, objects, options);
        killNext = false;
        // The first object really lands on the target; the inventory stays the old one.
        const inventory = path.join(real.root, '.sluice', 'inventory', `${app}.json`);
        const old = await readFile(inventory);
        await real.apply(app, objects.slice(0, 1), { ...options, prune: false });
        await writeFile(inventory, old);
        throw new UnavailableError(`agent for ${target} (killed mid-apply)`);
      };
      clusters.set(target, dying);
      return dying;
    };
    fleet = await startFleet({
      repos: { r0: smallRepo(0, 2, { 'apps/app-0/second.yaml': configMap('app-0-second', 'v0') }) },
      cluster,
      retryDelayMs: 100,
      workdir,
    });
    await convergedToHeads(fleet, TWO_TARGETS);
    // WHEN a push changes both objects and the agent dies during the first apply
    killNext = true;
    const sha = await fleet.commit('r0', {
      ...change(1),
      'apps/app-0/second.yaml': configMap('app-0-second', 'v1'),
    });
    // THEN the retried apply completes: both targets hold the new inventory and status agrees
    await convergedToHeads(fleet, TWO_TARGETS);
    expect(killNext).toBe(false);
    for (const target of ['r0-t0', 'r0-t1'])
      expect((await inventoryOf(fleet, target, 'app-0'))?.commit).toBe(sha);
    await expectStatusAtHead(fleet, sha);
    await rm(workdir, { recursive: true, force: true });
  });
});
