import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configMap, smallRepo } from '../../bench/lib/fixtures.ts';
import { bareGit, type Fleet, startFleet, until, writeCommits } from '../../bench/lib/fleet.ts';
import { closeLoadAgent, openLoop, signedPushes } from '../../bench/lib/load.ts';
import { convergedToHeads, sluiceStatus } from '../reliability/support.ts';

const RATE = 100;
const SECONDS = 60;

describe('load: 100 webhooks/s for 60 s against the local ingest', () => {
  let fleet: Fleet;
  beforeAll(async () => {
    fleet = await startFleet({ repos: { r0: smallRepo(0) }, coalesceMs: 1500 });
    await convergedToHeads(fleet, { r0: 2 });
  });
  afterAll(async () => {
    closeLoadAgent();
    await fleet?.stop();
  });

  it('loses no push and publishes none twice', async () => {
    // GIVEN 6,000 real commits on the repo, the branch at the newest, and one signed webhook each
    const count = RATE * SECONDS;
    const shas = await writeCommits(
      fleet.gitDir('r0'),
      await fleet.head('r0'),
      Array.from({ length: count }, (_, n) => ({
        files: { 'apps/app-0/configmap.yaml': configMap('app-0', `load-${n}`) },
        message: `load ${n}`,
      })),
    );
    await bareGit(fleet.gitDir('r0'), 'update-ref', 'refs/heads/main', shas.at(-1)!);
    const requests = signedPushes(count, fleet.webhookSecret, 'local/r0', fleet.repoUrl('r0'), shas);
    // WHEN they arrive at 100/s for 60 s, plus a redelivery of every 10th (same delivery id)
    const answers = await openLoop(
      fleet.webhookUrl,
      [...requests, ...requests.filter((_, n) => n % 10 === 0)],
      RATE,
    );
    // THEN every delivery was accepted once, and every redelivery answered as a duplicate
    expect(answers.slice(0, count).filter((a) => a.status !== 202)).toEqual([]);
    expect(answers.slice(count).every((a) => a.status === 200)).toBe(true);
    // AND every push was published exactly once and got exactly one plan outcome
    await until(
      'every push planned or superseded',
      () => {
        const outcomes = fleet
          .events()
          .filter((e) => ['Release Planned', 'Release Skipped'].includes(e['detail-type']));
        return outcomes.length >= count ? true : undefined;
      },
      120_000,
    );
    await convergedToHeads(fleet, { r0: 2 }, 120_000);
    const perCommit = (type: string) => {
      const counts = new Map<string, number>();
      for (const e of fleet.events(type)) {
        const commit = (e.detail as { commit: string }).commit;
        counts.set(commit, (counts.get(commit) ?? 0) + 1);
      }
      return counts;
    };
    const pushed = perCommit('Commit Pushed');
    expect(shas.filter((sha) => pushed.get(sha) !== 1)).toEqual([]);
    const planned = perCommit('Release Planned');
    const skipped = perCommit('Release Skipped');
    expect(shas.filter((sha) => (planned.get(sha) ?? 0) + (skipped.get(sha) ?? 0) !== 1)).toEqual([]);
    // AND the targets run the newest commit, and `sluice status` says so
    const status = await sluiceStatus(fleet);
    expect(status.map((d) => [d.commit, d.state])).toEqual(status.map(() => [shas.at(-1), 'Healthy']));
  });
});
