/**
 * `sluice dev --repo URL` by webhook: the repository lives on a separate git server process (as on
 * a provider), the poll interval is an hour, and a push there deploys as soon as the provider's
 * signed push webhook reaches `sluice dev`; a webhook for a repo it does not follow deploys nothing.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDev } from '../../cli/commands/dev.ts';
import { initBareRepo } from '../../shared/adapters/local/git-server.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import { EXAMPLE_FLEET, git, spawnGitServer, tempDir, waitFor } from '../support/dev-harness.ts';

const SECRET = 'test-webhook-secret';
let dir: string;
let server: { url: string; stop(): void };
let repoUrl: string;
let dev: DevServer;
let clone: string;

const healthyAt = (commit: string) =>
  waitFor(`guestbook@staging-use1 healthy at ${commit.slice(0, 7)}`, async () => {
    const record = await dev.pipeline.ledger.getDeployment('guestbook', 'staging-use1');
    return record?.commit === commit && record.state === 'Healthy' ? record : undefined;
  });

beforeAll(async () => {
  dir = await tempDir('dev-remote');
  await initBareRepo(path.join(dir, 'remote', 'acme'), 'fleet', EXAMPLE_FLEET);
  server = await spawnGitServer(path.join(dir, 'remote'));
  repoUrl = `${server.url}/acme/fleet.git`;
  dev = await startDev(
    {
      workdir: path.join(dir, 'work'),
      port: 0,
      gitPort: 0,
      webhookSecret: SECRET,
      seed: EXAMPLE_FLEET,
      coalesceMs: 100,
      quiet: true,
      repo: repoUrl,
      pollSeconds: 3600,
    },
    () => undefined,
  );
  clone = path.join(dir, 'clone');
  await git(dir, 'clone', '--quiet', repoUrl, clone);
}, 60_000);

afterAll(async () => {
  await dev?.stop();
  server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('sluice dev --repo, by webhook', () => {
  it('deploys the head found at start, then a push as soon as its webhook arrives', async () => {
    // GIVEN the remote's head, found by the poll at start
    const seed = await git(clone, 'rev-parse', 'HEAD');
    await healthyAt(seed);
    // WHEN a push lands on the remote and the provider sends its signed push webhook
    const file = path.join(clone, 'apps/guestbook/configmap.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('Sluice guestbook', 'Hello'));
    await git(clone, 'commit', '--quiet', '-am', 'retitle');
    await git(clone, 'push', '--quiet', 'origin', 'HEAD:main');
    const head = await git(clone, 'rev-parse', 'HEAD');
    const push = (repo: string) =>
      sendWebhook({
        url: dev.webhookUrl,
        secret: SECRET,
        event: 'push',
        payload: githubPushPayload({
          repo,
          cloneUrl: repoUrl,
          ref: 'refs/heads/main',
          before: seed,
          after: head,
        }),
      });
    // A repo it does not follow is refused; the followed one is taken.
    expect((await push('mallory/fleet')).status).toBeGreaterThanOrEqual(400);
    expect((await push('acme/fleet')).status).toBe(202);
    // THEN it deploys without waiting for the hourly poll
    const record = await healthyAt(head);
    expect(record.repo).toBe('acme/fleet');
    const planned = dev.pipeline.bus.events.filter(
      (e) => e['detail-type'] === 'Release Planned' && (e.detail as { commit: string }).commit === head,
    );
    expect(planned).toHaveLength(1);
  });
});
