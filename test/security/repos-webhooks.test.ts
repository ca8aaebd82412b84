/**
 * Issue 11, item 6: a webhook decides nothing about trust. A repo that is not configured is
 * refused and never cloned; the clone URL is always the configured one, whatever the payload
 * says, so a provider's minimal payload without clone links is accepted. Through `sluice dev`
 * in process: the real ingest HTTP server, the real git server, directory targets.
 */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitServer, initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import { signHmacHex } from '../../shared/core/webhooks/common.ts';
import type { ReleasePlanned } from '../../shared/schemas/events.ts';
import { EXAMPLE_FLEET, git, startTestDev, type TestDev, tempDir, waitFor } from '../support/dev-harness.ts';

const CONFIGMAP = 'apps/guestbook/configmap.yaml';

describe('webhooks and clone URLs (sluice dev, real ingest and git servers)', () => {
  let t: TestDev;
  /** A second git server, standing for whatever a hostile payload points at. It records every request. */
  let attacker: GitServer;
  const attackerRequests: string[] = [];
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 100 });
    const root = await tempDir('attacker-git');
    await initBareRepo(root, 'other', EXAMPLE_FLEET);
    attacker = await startGitServer({
      root,
      onRequest: ({ method, url }) => attackerRequests.push(`${method} ${url}`),
    });
  });
  afterAll(async () => {
    await attacker?.close();
    await t?.stop();
  });

  const ingestUrl = (provider: string) => t.dev.webhookUrl.replace(/\/github$/, `/${provider}`);
  /**
   * A new guestbook title committed and written straight into the bare repo (file transport), so
   * no webhook is sent for it: the test's own delivery is the only one.
   */
  const commitQuietly = async (title: string): Promise<{ before: string; after: string }> => {
    const before = await git(t.clone, 'rev-parse', 'HEAD');
    const file = path.join(t.clone, CONFIGMAP);
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace(/GUESTBOOK_TITLE: .*/, `GUESTBOOK_TITLE: ${title}`),
    );
    await git(t.clone, 'commit', '--quiet', '-am', title);
    await git(t.clone, 'push', '--quiet', path.join(t.workdir, 'git', 'fleet.git'), 'HEAD:refs/heads/main');
    return { before, after: await git(t.clone, 'rev-parse', 'HEAD') };
  };
  const healthyAt = (sha: string) =>
    waitFor(`guestbook@staging-use1 Healthy at ${sha.slice(0, 7)}`, async () => {
      const r = await t.dev.pipeline.ledger.getDeployment('guestbook', 'staging-use1', 'local/fleet');
      return r?.commit === sha && r.state === 'Healthy' ? r : undefined;
    });

  it('refuses a webhook for a repo that is not configured with 403, and never clones it', async () => {
    // GIVEN a signed push naming a repo `sluice dev` does not deploy, cloneable from another server
    const sha = await git(
      t.workdir,
      '--git-dir',
      path.join(t.workdir, 'git', 'fleet.git'),
      'rev-parse',
      'main',
    );
    const payload = githubPushPayload({
      repo: 'local/other',
      cloneUrl: `${attacker.url}/other.git`,
      ref: 'refs/heads/main',
      before: '0'.repeat(40),
      after: sha,
    });
    // WHEN it is delivered to the real ingest endpoint
    const answer = await sendWebhook({ url: t.dev.webhookUrl, secret: t.secret, event: 'push', payload });
    // THEN it is refused, naming the repo and the fix
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({
      error: 'repo_not_configured',
      message: expect.stringMatching(
        /repository "local\/other" is not configured to deploy.*Fix: .*management\.repos/,
      ),
    });
    // AND nothing was published for it, and its server never saw a request (no ls-remote, no upload-pack)
    await t.dev.pipeline.idle();
    expect(t.events('Commit Pushed').some((e) => (e.detail as { repo: string }).repo === 'local/other')).toBe(
      false,
    );
    expect(attackerRequests).toEqual([]);
  });

  it('ignores the clone URL a payload carries and clones the configured one', async () => {
    // GIVEN a new commit on main, and a push for it whose clone URL points at another server
    const { before, after } = await commitQuietly('cloned from the configured URL');
    const payload = githubPushPayload({
      repo: 'local/fleet',
      cloneUrl: `${attacker.url}/other.git`,
      ref: 'refs/heads/main',
      before,
      after,
    });
    // WHEN it is delivered
    const answer = await sendWebhook({ url: t.dev.webhookUrl, secret: t.secret, event: 'push', payload });
    // THEN it is accepted and deploys from the configured repository
    expect(answer.status).toBe(202);
    await healthyAt(after);
    const planned = t
      .events('Release Planned')
      .map((e) => e.detail as ReleasePlanned)
      .find((d) => d.commit === after);
    expect(planned?.repoUrl).toBe(t.dev.gitUrl);
    expect(
      t.events('Commit Pushed').find((e) => (e.detail as { commit: string }).commit === after)?.detail,
    ).toMatchObject({ repoUrl: t.dev.gitUrl });
    // AND the server the payload named was never contacted
    expect(attackerRequests).toEqual([]);
  });

  it("accepts Bitbucket Data Center's minimal repo:refs_changed payload, which has no clone links", async () => {
    // GIVEN a new commit and the payload Data Center documents for a push, without `links`
    const { before, after } = await commitQuietly('pushed on Bitbucket Data Center');
    const body = Buffer.from(
      JSON.stringify({
        eventKey: 'repo:refs_changed',
        date: '2026-12-06T10:00:00+0000',
        actor: { name: 'admin', id: 1 },
        repository: { slug: 'fleet', id: 1, name: 'fleet', project: { key: 'local', id: 1, name: 'Local' } },
        changes: [
          {
            ref: { id: 'refs/heads/main', displayId: 'main', type: 'BRANCH' },
            refId: 'refs/heads/main',
            fromHash: before,
            toHash: after,
            type: 'UPDATE',
          },
        ],
      }),
    );
    // WHEN it is delivered, signed, to the bitbucket-server path
    const response = await fetch(ingestUrl('bitbucket-server'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-event-key': 'repo:refs_changed',
        'x-request-id': randomUUID(),
        'x-hub-signature': `sha256=${signHmacHex(t.secret, body)}`,
      },
      body,
    });
    // THEN it is accepted and the commit deploys from the configured clone URL
    expect(response.status).toBe(202);
    await healthyAt(after);
  });
});
