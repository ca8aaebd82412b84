/**
 * Where a push's clone URL comes from, for every provider: the deployment config, never the
 * payload. Each provider's published sample is delivered to the ingest core with its repo
 * configured at another URL, with its clone URL removed, and with its repo not configured.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type IngestDeps, ingestWebhook } from '../../shared/core/ingest.ts';
import { repoCatalog } from '../../shared/core/repos.ts';
import { signHmacHex } from '../../shared/core/webhooks/common.ts';
import type { CommitPushed, OutboundEvent } from '../../shared/schemas/events.ts';

const SECRET = 'clone-url-secret';
const CONFIGURED = 'https://git.internal.example/configured.git';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/webhooks');

/** Each provider's published sample: the repo it names, where its clone URL sits, how it is signed. */
const SAMPLES: {
  provider: string;
  file: string;
  repo: string;
  /** Path of the clone URL in the payload; none for Bitbucket Cloud (it sends none). */
  urlAt?: (string | number)[];
  headers: (body: Uint8Array) => Record<string, string>;
}[] = [
  {
    provider: 'github',
    file: 'github/push-branch-created.json',
    repo: 'Codertocat/Hello-World',
    urlAt: ['repository', 'clone_url'],
    headers: (b) => ({
      'x-github-event': 'push',
      'x-github-delivery': 'd-1',
      'x-hub-signature-256': `sha256=${signHmacHex(SECRET, b)}`,
    }),
  },
  {
    provider: 'gitlab',
    file: 'gitlab/push.json',
    repo: 'mike/diaspora',
    urlAt: ['project', 'git_http_url'],
    headers: () => ({
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-event-uuid': 'd-1',
      'x-gitlab-token': SECRET,
    }),
  },
  {
    provider: 'bitbucket',
    file: 'bitbucket/repo-push.json',
    repo: 'team_name/repo_name',
    headers: (b) => ({
      'x-event-key': 'repo:push',
      'x-request-uuid': 'd-1',
      'x-hub-signature': `sha256=${signHmacHex(SECRET, b)}`,
    }),
  },
  {
    provider: 'bitbucket-server',
    file: 'bitbucket-server/repo-refs-changed.json',
    repo: 'MYPROJECT/test-repo',
    urlAt: ['repository', 'links'],
    headers: (b) => ({
      'x-event-key': 'repo:refs_changed',
      'x-request-id': 'd-1',
      'x-hub-signature': `sha256=${signHmacHex(SECRET, b)}`,
    }),
  },
  {
    provider: 'gitea',
    file: 'gitea/push.json',
    repo: 'example/example',
    urlAt: ['repository', 'clone_url'],
    headers: (b) => ({
      'x-gitea-event': 'push',
      'x-gitea-delivery': 'd-1',
      'x-gitea-signature': signHmacHex(SECRET, b),
    }),
  },
  {
    provider: 'azure-devops',
    file: 'azure-devops/git-push.json',
    repo: 'Fabrikam-Fiber-Git/Fabrikam-Fiber-Git',
    urlAt: ['resource', 'repository', 'remoteUrl'],
    headers: () => ({ authorization: `Basic ${Buffer.from(`sluice:${SECRET}`).toString('base64')}` }),
  },
  {
    provider: 'generic',
    file: 'generic/push.json',
    repo: 'acme/fleet',
    urlAt: ['repoUrl'],
    headers: (b) => ({
      'x-sluice-event': 'push',
      'x-sluice-delivery': 'd-1',
      'x-sluice-signature': `sha256=${signHmacHex(SECRET, b)}`,
    }),
  },
];

const deliver = async (sample: (typeof SAMPLES)[number], payload: unknown, configured: string[]) => {
  const published: OutboundEvent[] = [];
  const deps: IngestDeps = {
    bus: { publish: async (events) => void published.push(...events) },
    deliveries: { claim: async () => true, release: async () => undefined },
    clock: { now: () => new Date('2026-12-06T10:00:00Z') },
    webhookSecrets: async () => [SECRET],
    newTraceId: () => 'trace-00000001',
    repos: repoCatalog(configured.map((name) => ({ name, url: CONFIGURED }))),
  };
  const body = Buffer.from(JSON.stringify(payload));
  const answer = await ingestWebhook(deps, {
    provider: sample.provider,
    headers: { 'content-type': 'application/json', ...sample.headers(body) },
    body,
  });
  return { answer, pushes: published.map((e) => e.detail as CommitPushed) };
};

const read = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8'));
/** The payload with the value at `at` removed. */
const without = (payload: Record<string, unknown>, at: (string | number)[]): Record<string, unknown> => {
  const copy = structuredClone(payload);
  let node = copy as Record<string | number, unknown>;
  for (const key of at.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  delete node[at.at(-1)!];
  return copy;
};

describe.each(SAMPLES)('$provider clone URLs', (sample) => {
  it('publishes the configured clone URL, not the one in the payload', async () => {
    const { answer, pushes } = await deliver(sample, read(sample.file), [sample.repo]);
    expect(answer.status).toBe(202);
    expect(pushes.length).toBeGreaterThan(0);
    for (const push of pushes) expect(push).toMatchObject({ repo: sample.repo, repoUrl: CONFIGURED });
  });

  it('refuses the push with 403 when its repo is not configured, publishing nothing', async () => {
    const { answer, pushes } = await deliver(sample, read(sample.file), ['someone/else']);
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: 'repo_not_configured', repo: sample.repo });
    expect(pushes).toEqual([]);
  });
});

describe.each(SAMPLES.filter((s) => s.urlAt !== undefined))('$provider without a clone URL', (sample) => {
  it('accepts the payload without its clone URL field and uses the configured one', async () => {
    const { answer, pushes } = await deliver(sample, without(read(sample.file), sample.urlAt ?? []), [
      sample.repo,
    ]);
    expect(answer.status).toBe(202);
    expect(pushes.length).toBeGreaterThan(0);
    for (const push of pushes) expect(push.repoUrl).toBe(CONFIGURED);
  });
});
