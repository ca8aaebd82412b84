import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHmacHex } from '../../shared/core/webhooks/common.ts';
import { EXAMPLE_FLEET, git, startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';

/**
 * `sluice dev` end to end: every provider path on the one webhook secret, and the commit statuses
 * the pipeline sets, as a provider would show them (state/statuses.json).
 */
describe('sluice dev: every provider and commit statuses', () => {
  let t: TestDev;
  let head: string;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 100 });
    head = await git(t.clone, 'rev-parse', 'HEAD');
  });
  afterAll(async () => {
    await t?.stop();
  });

  const base = () => t.dev.webhookUrl.replace(/\/webhooks\/github$/, '');
  const post = async (
    provider: string,
    body: unknown,
    headers: (bytes: Buffer) => Record<string, string>,
  ) => {
    const bytes = Buffer.from(JSON.stringify(body));
    const response = await fetch(`${base()}/webhooks/${provider}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers(bytes) },
      body: bytes,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('sets pending then success for every (app, target) of the seed commit', async () => {
    // GIVEN `sluice dev` after the seed commit deployed
    // WHEN its statuses are read  THEN each deployed (app, target) went pending → success
    const statuses = await waitFor('success statuses', async () => {
      const all = await t.dev.statuses.statuses('local/fleet', head);
      const records = await t.dev.pipeline.ledger.listDeployments();
      return records.every((r) => all[`sluice/${r.app}@${r.target}`]?.state === 'success') ? all : undefined;
    });
    expect(statuses['sluice/guestbook@staging-use1']?.history.map((h) => h.state)).toEqual([
      'pending',
      'success',
    ]);
    expect(Object.keys(statuses)).toContain('sluice/api@prod-use1');
    // AND the file a user would look at holds them
    const file = JSON.parse(await readFile(path.join(t.workdir, 'state', 'statuses.json'), 'utf8'));
    expect(file[`local/fleet@${head}`]['sluice/api@prod-use1'].state).toBe('success');
  });

  it('accepts a signed push on every provider path with the one secret', async () => {
    // GIVEN each provider's push format naming the local repo at its current head
    const url = t.dev.gitUrl;
    const ref = 'refs/heads/main';
    const zero = '0'.repeat(40);
    const hmac = (bytes: Buffer) => signHmacHex(t.secret, bytes);
    const sends = {
      gitlab: () =>
        post(
          'gitlab',
          {
            object_kind: 'push',
            ref,
            before: zero,
            after: head,
            project: { path_with_namespace: 'local/fleet', git_http_url: url },
          },
          () => ({
            'x-gitlab-event': 'Push Hook',
            'x-gitlab-event-uuid': 'gl-1',
            'x-gitlab-token': t.secret,
          }),
        ),
      'bitbucket-server': () =>
        post(
          'bitbucket-server',
          {
            repository: {
              slug: 'fleet',
              project: { key: 'local' },
              links: { clone: [{ name: 'http', href: url }] },
            },
            changes: [{ refId: ref, fromHash: zero, toHash: head, type: 'ADD' }],
          },
          (b) => ({
            'x-event-key': 'repo:refs_changed',
            'x-request-id': 'bbs-1',
            'x-hub-signature': `sha256=${hmac(b)}`,
          }),
        ),
      gitea: () =>
        post(
          'gitea',
          { ref, before: zero, after: head, repository: { full_name: 'local/fleet', clone_url: url } },
          (b) => ({
            'x-gitea-event': 'push',
            'x-gitea-delivery': 'gitea-1',
            'x-gitea-signature': hmac(b),
          }),
        ),
      forgejo: () =>
        post(
          'forgejo',
          { ref, before: zero, after: head, repository: { full_name: 'local/fleet', clone_url: url } },
          (b) => ({
            'x-forgejo-event': 'push',
            'x-forgejo-delivery': 'forgejo-1',
            'x-forgejo-signature': hmac(b),
          }),
        ),
      'azure-devops': () =>
        post(
          'azure-devops',
          {
            id: 'ado-1',
            eventType: 'git.push',
            resource: {
              refUpdates: [{ name: ref, oldObjectId: zero, newObjectId: head }],
              repository: { name: 'fleet', remoteUrl: url, project: { name: 'local' } },
            },
          },
          () => ({ authorization: `Basic ${Buffer.from(`any:${t.secret}`).toString('base64')}` }),
        ),
      generic: () =>
        post('generic', { repo: 'local/fleet', repoUrl: url, ref, before: zero, after: head }, (b) => ({
          'x-sluice-signature': `sha256=${hmac(b)}`,
        })),
    };
    // WHEN each is delivered
    const traces: Record<string, string> = {};
    for (const [provider, send] of Object.entries(sends)) {
      const answer = await send();
      expect(answer.status, provider).toBe(202);
      traces[provider] = answer.body.traceId as string;
    }
    // THEN each reaches the planner, which finds the commit already planned
    for (const [provider, traceId] of Object.entries(traces)) {
      const skipped = await waitFor(`${provider} to be planned`, () =>
        t.events('Release Skipped').find((e) => (e.detail as { traceId: string }).traceId === traceId),
      );
      expect((skipped.detail as { reason: string }).reason).toBe('already-planned');
    }
    // AND a wrong secret is refused on every path
    const wrong = await post(
      'generic',
      { repo: 'local/fleet', repoUrl: url, ref, before: zero, after: head },
      (b) => ({
        'x-sluice-signature': `sha256=${signHmacHex('wrong', b)}`,
      }),
    );
    expect(wrong.status).toBe(401);
  });

  it('marks a policy rejection as a failure status that names the policy and object', async () => {
    // GIVEN the metrics agent made privileged
    const daemonset = (
      await readFile(path.join(EXAMPLE_FLEET, 'apps/metrics-agent/daemonset.yaml'), 'utf8')
    ).replace('privileged: false', 'privileged: true');
    // WHEN it is pushed
    const sha = await t.push({ 'apps/metrics-agent/daemonset.yaml': daemonset }, 'make the agent privileged');
    // THEN its status on the target goes pending → failure with the violation summarised
    const status = await waitFor('failure status', async () => {
      const s = (await t.dev.statuses.statuses('local/fleet', sha))['sluice/metrics-agent@onprem-fra1'];
      return s?.state === 'failure' ? s : undefined;
    });
    expect(status.history.map((h) => h.state)).toEqual(['pending', 'failure']);
    expect(status.description).toMatch(/^Policy rejected: 1 violation\(s\): no-privileged on DaemonSet/);
  });
});
