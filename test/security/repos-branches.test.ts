/**
 * Issue 11, item 6: only the branches a fleet configures deploy. A push to any other branch is
 * answered, recorded as Release Skipped, and never blocks or shadows the deploy branch's next
 * release. Through `sluice dev` in process: the real git server, signed webhooks, directory targets.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../../shared/ports/index.ts';
import type { ReleaseSkipped } from '../../shared/schemas/events.ts';
import { git, startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';

const CONFIGMAP = 'apps/guestbook/configmap.yaml';

describe('deploy branches (sluice dev, real git server)', () => {
  let t: TestDev;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 100 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Commits a guestbook title in the clone and pushes it to `branch` only; returns the commit. */
  const pushTo = async (branch: string, title: string): Promise<string> => {
    const file = path.join(t.clone, CONFIGMAP);
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/GUESTBOOK_TITLE: .*/, `GUESTBOOK_TITLE: ${title}`));
    await git(t.clone, 'commit', '--quiet', '-am', `retitle to ${title}`);
    await git(t.clone, 'push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${branch}`);
    return git(t.clone, 'rev-parse', 'HEAD');
  };
  const guestbook = (): Promise<DeploymentRecord | undefined> =>
    t.dev.pipeline.ledger.getDeployment('guestbook', 'staging-use1');
  const deployedTitle = () =>
    readFile(
      path.join(t.dev.pipeline.targetDir('staging-use1'), 'guestbook/configmap.guestbook-config.yaml'),
      'utf8',
    );

  it('skips pushes to an unconfigured branch and still deploys the next push to main', async () => {
    // GIVEN the seed deployed from main
    const seeded = await guestbook();
    expect(seeded?.state).toBe('Healthy');
    // WHEN three commits are pushed to a feature branch, one after the other
    const feature: string[] = [];
    for (const n of [1, 2, 3]) {
      feature.push(await pushTo('feature', `feature ${n}`));
      await waitFor(`feature push ${n} to be answered`, () =>
        t.events('Release Skipped').find((e) => (e.detail as ReleaseSkipped).commit === feature.at(-1))
          ? true
          : t
                .events('Release Planned')
                .some((e) => (e.detail as { commit: string }).commit === feature.at(-1))
            ? true
            : undefined,
      );
      await t.dev.pipeline.idle();
    }
    // THEN each is recorded as skipped, naming the branch and the fix, and nothing was deployed
    for (const sha of feature) {
      const skipped = t
        .events('Release Skipped')
        .map((e) => e.detail as ReleaseSkipped)
        .find((d) => d.commit === sha);
      expect(skipped?.reason).toBe('branch-not-configured');
      expect(skipped?.message).toContain('feature');
      expect(skipped?.message).toMatch(/main/);
    }
    expect(
      t.events('Release Planned').some((e) => feature.includes((e.detail as { commit: string }).commit)),
    ).toBe(false);
    expect((await guestbook())?.commit).toBe(seeded?.commit);
    expect(await deployedTitle()).not.toContain('feature');

    // WHEN the next commit is pushed to main
    await git(t.clone, 'fetch', '--quiet', 'origin', 'main');
    await git(t.clone, 'reset', '--quiet', '--hard', 'origin/main');
    const main = await pushTo('main', 'from main');
    // THEN it deploys normally: nothing the feature branch did shadows it
    await waitFor('main to deploy', async () => {
      const record = await guestbook();
      return record?.commit === main && record.state === 'Healthy' ? true : undefined;
    });
    expect(await deployedTitle()).toContain('from main');
  });
});
