import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type IngestDeps, type IngestRequest, ingestWebhook } from '../../shared/core/ingest.ts';
import { signHmacHex } from '../../shared/core/webhooks/common.ts';
import { PROVIDER_NAMES } from '../../shared/core/webhooks/index.ts';
import { TokenBucketLimiter } from '../../shared/core/webhooks/rate-limit.ts';
import type { IdempotencyStore } from '../../shared/ports/index.ts';
import { type CommitPushed, eventSchemas, type OutboundEvent } from '../../shared/schemas/events.ts';

const SECRET = 'It\u2019s a Secret to Everybody';
const OLD_SECRET = 'the-previous-secret';
const NOW = new Date('2026-01-02T03:04:05.000Z');
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/webhooks');
const fixture = (file: string): Uint8Array => readFileSync(path.join(FIXTURES, file));

type Headers = Record<string, string>;

/** How each provider authenticates and names a delivery: what a real sender puts on the wire. */
const SENDERS: Record<string, (body: Uint8Array, secret: string, event?: string) => Headers> = {
  github: (body, secret, event = 'push') => ({
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    'x-hub-signature-256': `sha256=${signHmacHex(secret, body)}`,
  }),
  gitlab: (_body, secret, event = 'Push Hook') => ({
    'content-type': 'application/json',
    'x-gitlab-event': event,
    'x-gitlab-event-uuid': '13792a34-cac6-4fda-95a8-c58e00a3954e',
    'x-gitlab-token': secret,
  }),
  bitbucket: (body, secret, event = 'repo:push') => ({
    'content-type': 'application/json',
    'x-event-key': event,
    'x-request-uuid': 'b2f1c8a0-1d4e-4f5a-9c3b-7e6d5a4b3c2d',
    'x-hub-signature': `sha256=${signHmacHex(secret, body)}`,
  }),
  'bitbucket-server': (body, secret, event = 'repo:refs_changed') => ({
    'content-type': 'application/json; charset=utf-8',
    'x-event-key': event,
    'x-request-id': 'e0a7f3c1-8f2b-4b7e-a1d2-3c4b5a6d7e8f',
    'x-hub-signature': `sha256=${signHmacHex(secret, body)}`,
  }),
  gitea: (body, secret, event = 'push') => ({
    'content-type': 'application/json',
    'x-gitea-event': event,
    'x-gitea-delivery': 'f6266f16-1bf3-46a5-9ea4-602e06ead473',
    'x-gitea-signature': signHmacHex(secret, body),
  }),
  forgejo: (body, secret, event = 'push') => ({
    'content-type': 'application/json',
    'x-forgejo-event': event,
    'x-forgejo-delivery': 'a1b2c3d4-1bf3-46a5-9ea4-602e06ead473',
    'x-forgejo-signature': signHmacHex(secret, body),
  }),
  gogs: (body, secret, event = 'push') => ({
    'content-type': 'application/json',
    'x-gogs-event': event,
    'x-gogs-delivery': 'c4d5e6f7-1bf3-46a5-9ea4-602e06ead473',
    'x-gogs-signature': signHmacHex(secret, body),
  }),
  'azure-devops': (_body, secret) => ({
    'content-type': 'application/json; charset=utf-8',
    authorization: `Basic ${Buffer.from(`sluice:${secret}`).toString('base64')}`,
  }),
  generic: (body, secret, event = 'push') => ({
    'content-type': 'application/json',
    'x-sluice-event': event,
    'x-sluice-delivery': 'generic-1',
    'x-sluice-signature': `sha256=${signHmacHex(secret, body)}`,
  }),
};

/** The credential header each provider's tamper test changes. */
const CREDENTIAL: Record<string, string> = {
  github: 'x-hub-signature-256',
  gitlab: 'x-gitlab-token',
  bitbucket: 'x-hub-signature',
  'bitbucket-server': 'x-hub-signature',
  gitea: 'x-gitea-signature',
  forgejo: 'x-forgejo-signature',
  gogs: 'x-gogs-signature',
  'azure-devops': 'authorization',
  generic: 'x-sluice-signature',
};

const setup = (secrets: string[] = [SECRET], extra: Partial<IngestDeps> = {}) => {
  const published: OutboundEvent[] = [];
  const claimed = new Set<string>();
  const asked: [string, string | undefined][] = [];
  const deliveries: IdempotencyStore = {
    claim: async (key) => !claimed.has(key) && Boolean(claimed.add(key)),
    release: async (key) => void claimed.delete(key),
  };
  let traces = 0;
  const deps: IngestDeps = {
    bus: { publish: async (events) => void published.push(...events) },
    deliveries,
    clock: { now: () => NOW },
    webhookSecrets: async (provider, repo) => {
      asked.push([provider, repo]);
      return secrets;
    },
    newTraceId: () => `trace-${String(++traces).padStart(8, '0')}`,
    ...extra,
  };
  return { deps, published, claimed, asked };
};

const deliver = (provider: string, body: Uint8Array, headers: Headers): IngestRequest => ({
  provider,
  body,
  headers,
});

/** Flips one bit of one character, keeping it printable where possible. */
const flipChar = (value: string, index: number): string => {
  const code = value.charCodeAt(index);
  const flipped = String.fromCharCode(code ^ 0x01);
  return value.slice(0, index) + flipped + value.slice(index + 1);
};

interface Sample {
  readonly provider: string;
  readonly file: string;
  readonly expected: Partial<CommitPushed>[];
}

/** Each provider's published sample and what Sluice makes of it. */
const SAMPLES: Sample[] = [
  {
    provider: 'github',
    file: 'github/push-branch-created.json',
    expected: [
      {
        repo: 'Codertocat/Hello-World',
        branch: 'master',
        commit: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
        before: '0000000000000000000000000000000000000000',
        repoUrl: 'https://github.com/Codertocat/Hello-World.git',
        deleted: false,
        pusher: 'Codertocat',
      },
    ],
  },
  {
    provider: 'gitlab',
    file: 'gitlab/push.json',
    expected: [
      {
        repo: 'mike/diaspora',
        branch: 'master',
        commit: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
        before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
        repoUrl: 'http://example.com/mike/diaspora.git',
        message: 'fixed readme',
      },
    ],
  },
  {
    provider: 'bitbucket',
    file: 'bitbucket/repo-push.json',
    expected: [
      {
        repo: 'team_name/repo_name',
        branch: 'name-of-branch',
        commit: '709d658dc5b6d6afcd46049c2f332ee3f515a67d',
        before: '1e65c05c1d5171631d92438a13901ca7dae9618c',
        repoUrl: 'https://bitbucket.org/team_name/repo_name.git',
        message: 'new commit message\n',
      },
    ],
  },
  {
    provider: 'bitbucket-server',
    file: 'bitbucket-server/repo-refs-changed.json',
    expected: [
      {
        repo: 'MYPROJECT/test-repo',
        branch: 'master',
        commit: '22671f0349857934857983457983475ec39f196b',
        before: 'f09c8889a2d234985734958795a31589cd91ffda',
        repoUrl: 'https://bitbucketserver/scm/myproject/test-repo.git',
        pusher: 'john',
      },
    ],
  },
  {
    provider: 'bitbucket-server',
    file: 'bitbucket-server/repo-refs-changed-delete.json',
    expected: [
      {
        repo: '~gopher/webhook-test',
        branch: 'feature/wip',
        commit: '32a0b8a740c2963c6f56bd8baf3dc05683d299e0',
        deleted: true,
      },
    ],
  },
  {
    provider: 'gitea',
    file: 'gitea/push.json',
    expected: [
      {
        repo: 'example/example',
        branch: 'master',
        commit: '67b56589a45103f891bdee7c0546e5d40bc02001',
        repoUrl: 'http://localhost:3000/example/example.git',
      },
    ],
  },
  {
    provider: 'forgejo',
    file: 'forgejo/push.json',
    expected: [
      { repo: 'example/example', branch: 'master', commit: '67b56589a45103f891bdee7c0546e5d40bc02001' },
    ],
  },
  {
    provider: 'gogs',
    file: 'gogs/push.json',
    expected: [
      {
        repo: 'unknwon/webhooks',
        branch: 'develop',
        commit: 'bffeb74224043ba2feb48d137756c8a9331c449a',
        before: '28e1879d029cb852e4844d9c718537df08844e03',
      },
    ],
  },
  {
    provider: 'azure-devops',
    file: 'azure-devops/git-push.json',
    expected: [
      {
        repo: 'Fabrikam-Fiber-Git/Fabrikam-Fiber-Git',
        branch: 'main',
        commit: '33b55f7cb7e7e245323987634f960cf4a6e6bc74',
        before: 'aad331d8d3b131fa9ae03cf5e53965b51942618a',
        repoUrl: 'https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_git/Fabrikam-Fiber-Git',
        deliveryId: '03c164c2-8912-4d5e-8009-3707d5f83734',
        pusher: 'Jamal Hartnett',
      },
    ],
  },
  {
    provider: 'generic',
    file: 'generic/push.json',
    expected: [{ repo: 'acme/fleet', branch: 'main', commit: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7' }],
  },
];

describe('webhook providers: published samples', () => {
  it('serves every provider the issue names', () => {
    // GIVEN the provider table  THEN every documented path segment is in it
    expect([...PROVIDER_NAMES].sort()).toEqual(
      [
        'azure-devops',
        'bitbucket',
        'bitbucket-server',
        'forgejo',
        'generic',
        'gitea',
        'github',
        'gitlab',
        'gogs',
      ].sort(),
    );
  });

  for (const sample of SAMPLES) {
    it(`${sample.provider}: accepts ${sample.file} correctly signed and normalises it`, async () => {
      // GIVEN the provider's published sample, signed the way the provider signs it
      const { deps, published, asked } = setup();
      const body = fixture(sample.file);
      // WHEN it is delivered
      const response = await ingestWebhook(
        deps,
        deliver(sample.provider, body, SENDERS[sample.provider]!(body, SECRET)),
      );
      // THEN it is accepted and each branch becomes one valid Commit Pushed
      expect(response.status).toBe(202);
      expect(published.map((e) => eventSchemas['Commit Pushed'].parse(e.detail))).toMatchObject(
        sample.expected.map((e) => ({ provider: sample.provider, ...e })),
      );
      // AND the secret was looked up for the repo the sample names
      expect(asked).toEqual([[sample.provider, sample.expected[0]?.repo]]);
    });

    it(`${sample.provider}: rejects ${sample.file} with any one byte of body or credential changed`, async () => {
      // GIVEN the signed sample
      const body = fixture(sample.file);
      const headers = SENDERS[sample.provider]!(body, SECRET);
      const credential = CREDENTIAL[sample.provider]!;
      const value = headers[credential]!;
      const { deps, published } = setup();
      // WHEN a byte of the body, or a character of the credential, is changed (a spread of positions)
      const answers: number[] = [];
      for (const index of [0, 1, Math.floor(body.length / 2), body.length - 2, body.length - 1]) {
        const changed = Uint8Array.from(body);
        changed[index] = (changed[index] ?? 0) ^ 0x01;
        answers.push((await ingestWebhook(deps, deliver(sample.provider, changed, headers))).status);
      }
      for (const index of [value.length - 1, Math.floor(value.length / 2)]) {
        const tampered = { ...headers, [credential]: flipChar(value, index) };
        answers.push((await ingestWebhook(deps, deliver(sample.provider, body, tampered))).status);
      }
      // THEN every one is refused with 401 — except that GitLab's and Azure DevOps' tokens do not
      // cover the body, so only their credential changes are refused (a body change is caught by TLS)
      const bodyCovered = !['gitlab', 'azure-devops'].includes(sample.provider);
      const expected = bodyCovered ? answers.map(() => 401) : [...answers.slice(0, 5), 401, 401];
      expect(answers).toEqual(expected);
      if (bodyCovered) expect(published).toEqual([]);
    });
  }

  it('github: ignores a tag push and publishes a tag deletion nowhere, both with the reason', async () => {
    // GIVEN GitHub's sample tag push and tag deletion
    const { deps, published } = setup();
    for (const file of ['github/push-tag.json', 'github/push-tag-deleted.json']) {
      const body = fixture(file);
      // WHEN each is delivered  THEN 200 ignored, saying tags are not deployed
      const response = await ingestWebhook(deps, deliver('github', body, SENDERS.github!(body, SECRET)));
      expect(response).toMatchObject({
        status: 200,
        body: { status: 'ignored', reason: expect.stringMatching(/tag/) },
      });
    }
    expect(published).toEqual([]);
  });

  it('github: answers pong to the sample ping, form-encoded or JSON', async () => {
    // GIVEN GitHub's sample ping, as JSON and as payload=<json>
    const { deps } = setup();
    const json = fixture('github/ping.json');
    const form = new TextEncoder().encode(`payload=${encodeURIComponent(new TextDecoder().decode(json))}`);
    // WHEN both arrive  THEN both are answered pong
    const a = await ingestWebhook(deps, deliver('github', json, SENDERS.github!(json, SECRET, 'ping')));
    const b = await ingestWebhook(deps, {
      provider: 'github',
      body: form,
      headers: {
        ...SENDERS.github!(form, SECRET, 'ping'),
        'content-type': 'application/x-www-form-urlencoded',
      },
    });
    expect([a.body, b.body]).toEqual([{ status: 'pong' }, { status: 'pong' }]);
  });

  it('gitlab: ignores the sample tag push with the reason', async () => {
    const { deps, published } = setup();
    const body = fixture('gitlab/tag-push.json');
    const response = await ingestWebhook(
      deps,
      deliver('gitlab', body, SENDERS.gitlab!(body, SECRET, 'Tag Push Hook')),
    );
    expect(response).toMatchObject({ status: 200, body: { status: 'ignored' } });
    expect(published).toEqual([]);
  });

  it('gitlab: verifies a signing-token delivery (webhook-signature) instead of the token', async () => {
    // GIVEN the sample signed per Standard Webhooks with the signing token, and no X-Gitlab-Token
    const body = fixture('gitlab/push.json');
    const id = 'msg_2Zb6bX2Fh2Y';
    const timestamp = String(NOW.getTime() / 1000);
    const signature = createHmac('sha256', SECRET)
      .update(`${id}.${timestamp}.`)
      .update(body)
      .digest('base64');
    const headers = {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'webhook-id': id,
      'webhook-timestamp': timestamp,
      'webhook-signature': `v1,${signature}`,
    };
    const { deps } = setup();
    // WHEN it arrives, then again with a body changed by one byte, then again ten minutes late
    const good = await ingestWebhook(deps, deliver('gitlab', body, headers));
    const changed = Uint8Array.from(body);
    changed[10] = (changed[10] ?? 0) ^ 1;
    const tampered = await ingestWebhook(deps, deliver('gitlab', changed, headers));
    const late = await ingestWebhook(
      deps,
      deliver('gitlab', body, { ...headers, 'webhook-timestamp': String(Number(timestamp) - 600) }),
    );
    // THEN only the first is accepted
    expect([good.status, tampered.status, late.status]).toEqual([202, 401, 401]);
  });

  it('bitbucket-server: answers pong to diagnostics:ping', async () => {
    const { deps } = setup();
    const body = new TextEncoder().encode('{"test": true}');
    const response = await ingestWebhook(
      deps,
      deliver('bitbucket-server', body, SENDERS['bitbucket-server']!(body, SECRET, 'diagnostics:ping')),
    );
    expect(response).toEqual({ status: 200, body: { status: 'pong' } });
  });
});

describe('webhook providers: edge safety', () => {
  it('refuses every provider when no secret is configured for the repo', async () => {
    // GIVEN no secrets at all
    const { deps, published } = setup([]);
    // WHEN each provider's signed sample arrives  THEN each gets 401 naming the missing secret
    for (const sample of SAMPLES) {
      const body = fixture(sample.file);
      const response = await ingestWebhook(
        deps,
        deliver(sample.provider, body, SENDERS[sample.provider]!(body, 'anything')),
      );
      expect(response.status).toBe(401);
      expect(response.body.message).toMatch(/no webhook secret is configured/);
    }
    expect(published).toEqual([]);
  });

  it('accepts the previous secret during a rotation, for every provider', async () => {
    // GIVEN the current and the previous secret  WHEN each sample is signed with the previous one
    for (const sample of SAMPLES) {
      const { deps } = setup([SECRET, OLD_SECRET]);
      const body = fixture(sample.file);
      const response = await ingestWebhook(
        deps,
        deliver(sample.provider, body, SENDERS[sample.provider]!(body, OLD_SECRET)),
      );
      expect(response.status, sample.file).toBe(202);
    }
  });

  it('absorbs a redelivery of a provider without delivery ids by a body-derived id', async () => {
    // GIVEN an Azure DevOps-style generic sender that sends no delivery header
    const { deps, published } = setup();
    const body = fixture('generic/push.json');
    const { 'x-sluice-delivery': _, ...headers } = SENDERS.generic!(body, SECRET);
    // WHEN the same body arrives twice
    const first = await ingestWebhook(deps, deliver('generic', body, headers));
    const second = await ingestWebhook(deps, deliver('generic', body, headers));
    // THEN it is published once, under an id derived from the body
    expect([first.status, second.status]).toEqual([202, 200]);
    expect(second.body).toMatchObject({
      status: 'duplicate',
      deliveryId: expect.stringMatching(/^body-sha256:/),
    });
    expect(published).toHaveLength(1);
  });

  it('answers 429 with retry-after once a repo has used its burst, and other repos still pass', async () => {
    // GIVEN a limiter of two deliveries per repo (no refill within the test: the clock stands still)
    const limiter = new TokenBucketLimiter({ burst: 2, perMinute: 1, clock: { now: () => NOW } });
    const { deps } = setup([SECRET], { rateLimiter: limiter });
    const send = async (file: string, provider: string, id: string) => {
      const body = fixture(file);
      return ingestWebhook(
        deps,
        deliver(provider, body, { ...SENDERS[provider]!(body, SECRET), 'x-gitea-delivery': id }),
      );
    };
    // WHEN three deliveries for one repo arrive, then one for another repo
    const statuses = [
      (await send('gitea/push.json', 'gitea', 'one')).status,
      (await send('gitea/push.json', 'gitea', 'two')).status,
    ];
    const third = await send('gitea/push.json', 'gitea', 'three');
    const other = await send('gogs/push.json', 'gogs', 'x');
    // THEN the third is refused with 429 and a retry-after; the other repo is not affected
    expect(statuses).toEqual([202, 202]);
    expect(third).toMatchObject({ status: 429, headers: { 'retry-after': '60' } });
    expect(other.status).toBe(202);
  });

  it('answers 413 before authentication and 415 for a content type the provider never sends', async () => {
    const { deps } = setup();
    const big = await ingestWebhook(
      deps,
      deliver('gitlab', new Uint8Array(1024 * 1024 + 1), SENDERS.gitlab!(new Uint8Array(), SECRET)),
    );
    const body = fixture('gitlab/push.json');
    const form = await ingestWebhook(
      deps,
      deliver('gitlab', body, {
        ...SENDERS.gitlab!(body, SECRET),
        'content-type': 'application/x-www-form-urlencoded',
      }),
    );
    expect(big.status).toBe(413);
    expect(form.status).toBe(415);
    expect(form.body.message).toMatch(/choose "application\/json"/);
  });
});

describe('webhook providers: fuzz (fast-check, fixed seed)', () => {
  const arbitraryHeaders = fc.dictionary(
    fc.constantFrom(
      'content-type',
      'x-hub-signature-256',
      'x-hub-signature',
      'x-gitlab-token',
      'x-gitlab-event',
      'webhook-signature',
      'webhook-id',
      'webhook-timestamp',
      'x-event-key',
      'x-gitea-signature',
      'x-forgejo-signature',
      'x-gogs-signature',
      'x-gitea-event',
      'authorization',
      'x-sluice-signature',
      'x-github-event',
      'x-github-delivery',
    ),
    fc.oneof(fc.string(), fc.constant('application/json'), fc.constant('push'), fc.constant('Basic Og==')),
  );

  it('never accepts without a valid credential and never throws, for every provider', async () => {
    // GIVEN random bodies (some of them real samples, mutated) and random headers, unsigned
    const samples = SAMPLES.map((s) => fixture(s.file));
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 512 }),
      fc.json().map((j) => new TextEncoder().encode(j)),
      fc.tuple(fc.constantFrom(...samples), fc.nat()).map(([b, i]) => {
        const copy = Uint8Array.from(b);
        copy[i % copy.length] = (copy[i % copy.length] ?? 0) ^ 0x20;
        return copy;
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...PROVIDER_NAMES),
        body,
        arbitraryHeaders,
        async (provider, bytes, headers) => {
          const { deps, published } = setup();
          // WHEN they are ingested
          const response = await ingestWebhook(deps, deliver(provider, bytes, headers));
          // THEN the answer is a 4xx (or an ignored/pong 2xx only when the credential checked out,
          // which random headers never achieve) and nothing is published
          expect(response.status).toBeGreaterThanOrEqual(400);
          expect(response.status).toBeLessThan(500);
          expect(published).toEqual([]);
        },
      ),
      { seed: 20260102, numRuns: 400 },
    );
  });

  it('never throws on random correctly signed bodies, and publishes only schema-valid events', async () => {
    // GIVEN random JSON (or real samples with random fields replaced), correctly signed
    const samples = SAMPLES.map((s) => ({
      provider: s.provider,
      json: JSON.parse(new TextDecoder().decode(fixture(s.file))),
    }));
    const mutated = fc
      .tuple(fc.constantFrom(...samples), fc.string(), fc.jsonValue())
      .map(([s, key, value]) => ({ provider: s.provider, json: { ...s.json, [key]: value } }));
    const random = fc
      .tuple(fc.constantFrom(...PROVIDER_NAMES), fc.jsonValue())
      .map(([provider, json]) => ({ provider, json }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated, random), async ({ provider, json }) => {
        const { deps, published } = setup();
        const bytes = new TextEncoder().encode(JSON.stringify(json) ?? 'null');
        const response = await ingestWebhook(
          deps,
          deliver(provider, bytes, SENDERS[provider]!(bytes, SECRET)),
        );
        // THEN never a 5xx, and every published event passes the Commit Pushed schema
        expect(response.status).toBeLessThan(500);
        for (const event of published)
          expect(eventSchemas['Commit Pushed'].safeParse(event.detail).success).toBe(true);
      }),
      { seed: 20260103, numRuns: 400 },
    );
  });
});
