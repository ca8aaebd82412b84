/**
 * A hostile tree pushed to `sluice dev`'s git server, as an attacker with push access would: the
 * app holding it fails with Render Failed naming the path, the other app changed in the same
 * commit still deploys, nothing is written outside the checkout or the targets, and the next good
 * push deploys normally.
 */
import { lstat, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventDetail } from '../../shared/schemas/events.ts';
import { git, startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';
import { commitOf, graftTree } from './git-hostile-trees.ts';

/** Every path under `dir` (links listed, not followed). */
const walk = async (dir: string): Promise<string[]> => {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    out.push(full);
    if (entry.isDirectory()) out.push(...(await walk(full)));
  }
  return out;
};

describe('sluice dev and a pushed hostile tree', () => {
  let t: TestDev;
  let canaryDir: string;

  beforeAll(async () => {
    canaryDir = await mkdtemp(path.join(tmpdir(), 'sluice-canary-'));
    await writeFile(path.join(canaryDir, 'canary'), 'untouched');
    t = await startTestDev();
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await rm(canaryDir, { recursive: true, force: true });
  });

  it('fails only the app holding it, naming the path; nothing escapes; the next good push deploys', async () => {
    // GIVEN a commit that retitles metrics-agent normally and plants, inside apps/guestbook, a
    // symlink to /etc/passwd, a .git directory with a hook, and a directory link out to a canary
    const gitDir = path.join(t.clone, '.git');
    const daemonset = path.join(t.clone, 'apps/metrics-agent/daemonset.yaml');
    await writeFile(
      daemonset,
      (await readFile(daemonset, 'utf8')).replace(
        /^(metadata:\s*\n)/m,
        '$1  annotations: {note: hostile-push}\n',
      ),
    );
    await git(t.clone, 'commit', '--quiet', '-am', 'metrics-agent: annotate');
    const normal = await git(t.clone, 'rev-parse', 'HEAD');
    const hostileTree = await graftTree(
      gitDir,
      await git(t.clone, 'rev-parse', 'HEAD^{tree}'),
      'apps/guestbook',
      [
        ['passwd.yaml', { link: '/etc/passwd' }],
        [
          '.git',
          {
            dir: [
              [
                'hooks',
                {
                  dir: [['post-checkout', { file: `#!/bin/sh\ntouch ${canaryDir}/pwned\n`, mode: '100755' }]],
                },
              ],
            ],
          },
        ],
        ['out', { link: `../../../../../../../../../..${canaryDir}` }],
      ],
    );
    const hostile = await commitOf(gitDir, hostileTree, normal, 'guestbook: hostile');

    // WHEN it is pushed to main
    await git(t.clone, 'push', '--quiet', 'origin', `${hostile}:main`);

    // THEN guestbook fails with Render Failed naming a path inside it
    const failed = await waitFor(
      'guestbook Render Failed',
      () =>
        t
          .events('Render Failed')
          .find(
            (e) =>
              (e.detail as EventDetail<'Render Failed'>).commit === hostile &&
              (e.detail as { app: string }).app === 'guestbook',
          ),
      60_000,
    );
    const message = (failed.detail as EventDetail<'Render Failed'>).error.message;
    expect(message).toMatch(/^apps\/guestbook\/(\.git|out|passwd\.yaml): /);
    expect(message).toContain('Sluice refused to check it out');
    // AND metrics-agent, changed in the same commit, deploys it
    await waitFor(
      'metrics-agent healthy at the hostile commit',
      async () => {
        const records = await t.dev.pipeline.ledger.listDeployments();
        const mine = records.filter((r) => r.app === 'metrics-agent');
        return mine.length > 0 && mine.every((r) => r.commit === hostile && r.state === 'Healthy')
          ? true
          : undefined;
      },
      60_000,
    );
    await t.dev.pipeline.idle();

    // AND nothing was written outside: the canary is alone, no hook ran, the checkout holds no .git
    // and no link out, and no target holds /etc/passwd
    expect(await readdir(canaryDir)).toEqual(['canary']);
    const checkout = path.join(t.workdir, 'cache');
    for (const file of await walk(checkout)) {
      if (!file.includes(`${path.sep}trees${path.sep}${hostile}`)) continue;
      expect(path.basename(file)).not.toBe('.git');
      if ((await lstat(file)).isSymbolicLink()) {
        expect((await realpath(file)).startsWith(path.join(checkout, 'trees', hostile))).toBe(true);
      }
    }
    for (const file of await walk(path.join(t.workdir, 'targets'))) {
      if ((await lstat(file)).isFile()) expect(await readFile(file, 'utf8')).not.toContain('root:x:0:0');
    }

    // WHEN the next commit removes the hostile entries (the clean tree, on top of the hostile one)
    const configmap = path.join(t.clone, 'apps/guestbook/configmap.yaml');
    await writeFile(configmap, (await readFile(configmap, 'utf8')).replace('Sluice guestbook', 'Safe again'));
    await git(t.clone, 'commit', '--quiet', '-am', 'guestbook: retitle');
    const good = await commitOf(
      gitDir,
      await git(t.clone, 'rev-parse', 'HEAD^{tree}'),
      hostile,
      'guestbook: clean',
    );
    await git(t.clone, 'push', '--quiet', 'origin', `${good}:main`);

    // THEN guestbook deploys it everywhere
    await waitFor(
      'guestbook healthy at the good commit',
      async () => {
        const records = await t.dev.pipeline.ledger.listDeployments();
        const mine = records.filter((r) => r.app === 'guestbook');
        return mine.length > 0 && mine.every((r) => r.commit === good && r.state === 'Healthy')
          ? true
          : undefined;
      },
      60_000,
    );
    const target = (await readdir(path.join(t.workdir, 'targets'))).find((name) =>
      name.startsWith('staging'),
    );
    const files = await walk(path.join(t.workdir, 'targets', target ?? ''));
    const deployed = files.find((f) => f.endsWith('configmap.guestbook-config.yaml'));
    expect(deployed && (await readFile(deployed, 'utf8'))).toContain('Safe again');
  }, 180_000);

  it('skips a commit whose sluice.yaml is refused, naming it, and deploys the next good push', async () => {
    // GIVEN a commit holding sluice.yaml twice (a second, different blob of the same name)
    const gitDir = path.join(t.clone, '.git');
    const head = await git(t.clone, 'ls-remote', 'origin', 'refs/heads/main').then(
      (line) => line.split(/\s/)[0] ?? '',
    );
    await git(t.clone, 'fetch', '--quiet', 'origin');
    const base = await git(t.clone, 'rev-parse', `${head}^{tree}`);
    const twice = await graftTree(gitDir, base, '', [
      ['sluice.yaml', { file: 'apiVersion: sluice.dev/v1\nkind: Fleet\ntargets: []\napps: []\n' }],
    ]);
    const hostile = await commitOf(gitDir, twice, head, 'two sluice.yaml');
    // WHEN it is pushed
    await git(t.clone, 'push', '--quiet', 'origin', `${hostile}:main`);
    // THEN the push is skipped as invalid config, naming sluice.yaml, and nothing is dispatched
    const skipped = await waitFor(
      'Release Skipped',
      () =>
        t
          .events('Release Skipped')
          .find((e) => (e.detail as EventDetail<'Release Skipped'>).commit === hostile),
      60_000,
    );
    const detail = skipped.detail as EventDetail<'Release Skipped'>;
    expect(detail.reason).toBe('invalid-config');
    expect(detail.message).toMatch(/^sluice\.yaml: appears more than once/);
    expect(t.events('Apply Requested').some((e) => (e.detail as { commit: string }).commit === hostile)).toBe(
      false,
    );

    // WHEN the next commit has one sluice.yaml again, and retitles guestbook
    const configmap = path.join(t.clone, 'apps/guestbook/configmap.yaml');
    await writeFile(
      configmap,
      (await readFile(configmap, 'utf8')).replace(/GUESTBOOK_TITLE: .*/, 'GUESTBOOK_TITLE: After the skip'),
    );
    await git(t.clone, 'commit', '--quiet', '-am', 'guestbook: retitle again');
    const good = await commitOf(
      gitDir,
      await git(t.clone, 'rev-parse', 'HEAD^{tree}'),
      hostile,
      'one sluice.yaml',
    );
    await git(t.clone, 'push', '--quiet', 'origin', `${good}:main`);
    // THEN guestbook deploys it
    await waitFor(
      'guestbook healthy after the skip',
      async () => {
        const records = await t.dev.pipeline.ledger.listDeployments();
        const mine = records.filter((r) => r.app === 'guestbook');
        return mine.length > 0 && mine.every((r) => r.commit === good && r.state === 'Healthy')
          ? true
          : undefined;
      },
      60_000,
    );
  }, 180_000);
});
