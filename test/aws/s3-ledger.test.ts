import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3IdempotencyStore } from '../../shared/adapters/aws/s3-idempotency-store.ts';
import { S3Ledger } from '../../shared/adapters/aws/s3-ledger.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { wakeOnOutcome } from '../../shared/core/rollout.ts';
import { isSluiceError } from '../../shared/errors.ts';
import type { DeploymentUpdate } from '../../shared/ports/index.ts';
import { aws, clients, sha, uniqueName } from './support.ts';

const bucket = async (): Promise<string> => {
  const name = uniqueName('ledger');
  await clients().s3.send(new CreateBucketCommand({ Bucket: name }));
  return name;
};

const update = (generation: number, state: DeploymentUpdate['state'], at: string): DeploymentUpdate => ({
  app: 'web',
  target: 'prod-use1',
  repo: 'acme/fleet',
  branch: 'main',
  commit: sha(generation),
  generation,
  digest: `sha256:${generation.toString(16).padStart(64, '0')}`,
  bundleKey: `bundles/${generation.toString(16).padStart(64, '0')}.json`,
  traceId: `trace-${generation}-0000`,
  state,
  at,
});

describe('S3Ledger', () => {
  it('lets exactly one of many concurrent putBranch calls with the same expectedVersion win', async () => {
    // GIVEN a branch at version 1
    const ledger = new S3Ledger({ bucket: await bucket(), aws: aws() });
    const base = { repo: 'acme/fleet', branch: 'feature/x', plannedAt: '2026-01-01T00:00:00Z' };
    const first = await ledger.putBranch({ ...base, lastPlanned: sha(1), generation: 1 }, 0);
    expect(first.version).toBe(1);

    // WHEN eight planners write generation 2 concurrently, all expecting version 1
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, n) =>
        ledger.putBranch({ ...base, lastPlanned: sha(100 + n), generation: 2 }, first.version),
      ),
    );

    // THEN one wins, the other seven get CONFLICT, and the stored state is the winner's
    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.filter((result) => result.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.map((result) => isSluiceError(result.reason) && result.reason.code)).toEqual(
      Array(7).fill('CONFLICT'),
    );
    const stored = await ledger.getBranch('acme/fleet', 'feature/x');
    expect(stored).toEqual((won[0] as PromiseFulfilledResult<unknown>).value);
    expect(stored?.version).toBe(2);
  });

  it('refuses to create a branch that already exists, and to write over a stale version', async () => {
    // GIVEN a branch at version 1
    const ledger = new S3Ledger({ bucket: await bucket(), aws: aws() });
    const state = { repo: 'acme/fleet', branch: 'main', lastPlanned: sha(1), generation: 1, plannedAt: 'x' };
    await ledger.putBranch(state, 0);

    // WHEN it is created again, and written expecting version 5
    const again = await ledger.putBranch(state, 0).catch((caught: unknown) => caught);
    const stale = await ledger.putBranch(state, 5).catch((caught: unknown) => caught);

    // THEN both fail with CONFLICT
    expect(isSluiceError(again) && again.code).toBe('CONFLICT');
    expect(isSluiceError(stale) && stale.code).toBe('CONFLICT');
  });

  it('ignores a late update for an older generation and keeps history and last known good', async () => {
    // GIVEN generation 2 went Healthy, then generation 3 is progressing
    const ledger = new S3Ledger({ bucket: await bucket(), aws: aws() });
    await ledger.recordDeployment(update(2, 'Progressing', '2026-01-01T00:00:01Z'));
    await ledger.recordDeployment(update(2, 'Healthy', '2026-01-01T00:00:02Z'));
    const current = await ledger.recordDeployment(update(3, 'Progressing', '2026-01-01T00:00:03Z'));

    // WHEN a late message about generation 1 arrives
    const after = await ledger.recordDeployment(update(1, 'Failed', '2026-01-01T00:00:04Z'));

    // THEN nothing moved: generation 3 stays current, generation 2 is the last known good
    expect(after).toEqual(current);
    expect(await ledger.getDeployment('web', 'prod-use1')).toEqual(current);
    expect(current.generation).toBe(3);
    expect(current.lastKnownGood).toMatchObject({ generation: 2, commit: sha(2) });
    expect(current.history.map((entry) => `${entry.generation}:${entry.state}`)).toEqual([
      '2:Progressing',
      '2:Healthy',
      '3:Progressing',
    ]);
    expect(current.version).toBe(3);
  });

  it('applies concurrent updates for many targets without losing any', async () => {
    // GIVEN an empty ledger
    const ledger = new S3Ledger({ bucket: await bucket(), aws: aws() });

    // WHEN five targets report, each twice, all at once
    const targets = ['a', 'b', 'c', 'd', 'e'];
    await Promise.all(
      targets.flatMap((target) => [
        ledger.recordDeployment({ ...update(4, 'Progressing', '2026-01-01T00:00:01Z'), target }),
        ledger.recordDeployment({ ...update(4, 'Healthy', '2026-01-01T00:00:02Z'), target }),
      ]),
    );

    // THEN every target ends Healthy at generation 4
    const records = await ledger.listDeployments();
    expect(records.map((record) => `${record.target}:${record.state}`).sort()).toEqual(
      targets.map((target) => `${target}:Healthy`),
    );
  });

  it('keeps one record per (repo, app, target): two repos with a same-named app never share one', async () => {
    // GIVEN repo acme/fleet at generation 7 for web on prod-use1
    const name = await bucket();
    const ledger = new S3Ledger({ bucket: name, aws: aws() });
    await ledger.recordDeployment(update(7, 'Healthy', '2026-01-01T00:00:01Z'));
    // WHEN another repo's app of the same name reports its first generation on the same target
    const other = await ledger.recordDeployment({
      ...update(1, 'Healthy', '2026-01-01T00:00:02Z'),
      repo: 'acme/other',
    });
    // THEN it is recorded, not refused as older than acme/fleet's generation 7
    expect(other).toMatchObject({ repo: 'acme/other', generation: 1, version: 1 });
    expect((await ledger.getDeployment('web', 'prod-use1', 'acme/fleet'))?.generation).toBe(7);
    expect((await ledger.listDeployments()).map((r) => `${r.repo}:${r.generation}`).sort()).toEqual([
      'acme/fleet:7',
      'acme/other:1',
    ]);
    // AND a lookup that names no repo answers the most recently updated record
    expect((await ledger.getDeployment('web', 'prod-use1'))?.repo).toBe('acme/other');
    // AND each record has its own object, the repo URI-encoded as one key segment
    const { Contents } = await clients().s3.send(
      new ListObjectsV2Command({ Bucket: name, Prefix: 'ledger/deployments/' }),
    );
    expect(Contents?.map((o) => o.Key).sort()).toEqual([
      'ledger/deployments/web/prod-use1/acme%2Ffleet.json',
      'ledger/deployments/web/prod-use1/acme%2Fother.json',
    ]);
  });

  it("reads a record under the old (app, target) key as its repo's and moves it on the next write", async () => {
    // GIVEN a record written before the key named the repo
    const name = await bucket();
    const ledger = new S3Ledger({ bucket: name, aws: aws() });
    const { at, ...fields } = update(4, 'Healthy', '2026-01-01T00:00:01Z');
    const old = { ...fields, updatedAt: at, history: [], version: 2 };
    await clients().s3.send(
      new PutObjectCommand({
        Bucket: name,
        Key: 'ledger/deployments/web/prod-use1.json',
        Body: JSON.stringify(old),
      }),
    );
    // WHEN it is read for its repo and for another, and its repo then reports a newer generation
    expect((await ledger.getDeployment('web', 'prod-use1', 'acme/fleet'))?.generation).toBe(4);
    expect(await ledger.getDeployment('web', 'prod-use1', 'acme/other')).toBeUndefined();
    const moved = await ledger.recordDeployment(update(5, 'Healthy', '2026-01-01T00:00:02Z'));
    // THEN the record continues (version 3) under the new key and the old object is gone
    expect(moved).toMatchObject({ generation: 5, version: 3 });
    const { Contents } = await clients().s3.send(
      new ListObjectsV2Command({ Bucket: name, Prefix: 'ledger/deployments/' }),
    );
    expect(Contents?.map((o) => o.Key)).toEqual(['ledger/deployments/web/prod-use1/acme%2Ffleet.json']);
    expect(await ledger.listDeployments()).toEqual([moved]);
  });
});

describe('S3IdempotencyStore', () => {
  it('grants a key once among concurrent claimers, again after expiry or release', async () => {
    // GIVEN a store with a clock the test moves
    let now = 5_000_000;
    const store = new S3IdempotencyStore({ bucket: await bucket(), aws: aws(), now: () => now });

    // WHEN six handlers claim the same delivery at once
    const claims = await Promise.all(Array.from({ length: 6 }, () => store.claim('github:delivery-1', 60)));

    // THEN exactly one gets it, and a repeat within the TTL does not
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.claim('github:delivery-1', 60)).toBe(false);

    // WHEN the TTL passes THEN the key can be claimed again
    now += 61_000;
    expect(await store.claim('github:delivery-1', 60)).toBe(true);

    // WHEN the claim is released THEN it can be claimed at once
    await store.release('github:delivery-1');
    expect(await store.claim('github:delivery-1', 60)).toBe(true);
  });
});

describe('S3Ledger rollouts waiting on another app (apps[].dependsOn)', () => {
  it("wakes a dependent's rollout when its dependency reports, reading an index instead of listing", async () => {
    // GIVEN api's rollout waiting on db at generation 3, and web's rollout waiting on nothing
    const ledger = new S3Ledger({ bucket: await bucket(), aws: aws() });
    const rollout = (app: string, dependsOn?: Record<string, Record<string, number>>) => ({
      repo: 'acme/fleet',
      branch: 'main',
      app,
      commit: sha(3),
      generation: 3,
      traceId: 'trace-3-0000',
      state: 'Progressing' as const,
      current: 0,
      waves: [{ name: 'all', targets: ['prod'], bakeSeconds: 0, approval: false, state: 'Waiting' as const }],
      held: {},
      dispatched: [],
      approvals: {},
      updatedAt: '2026-12-06T00:00:00.000Z',
      ...(dependsOn ? { dependsOn } : {}),
    });
    await ledger.putRollout(rollout('api', { db: { prod: 3 } }), 0);
    await ledger.putRollout(rollout('web'), 0);
    expect(await ledger.dependentsOf('acme/fleet', 'main', 'db')).toEqual(['api']);

    // WHEN db's outcome is reported
    const woken: string[] = [];
    await wakeOnOutcome(
      {
        ledger,
        clock: systemClock,
        timer: {
          schedule: async (wake) => {
            woken.push(wake.app);
          },
        },
      },
      { repo: 'acme/fleet', branch: 'main', app: 'db', generation: 3 },
    );

    // THEN api's rollout is woken, web's is not; another branch's db wakes nobody
    expect(woken).toEqual(['api']);
    expect(await ledger.dependentsOf('acme/fleet', 'release', 'db')).toEqual([]);
  });
});
