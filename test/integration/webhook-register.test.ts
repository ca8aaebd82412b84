import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BitbucketWebhookAdmin } from '../../shared/adapters/bitbucket/webhook-admin.ts';
import { GiteaWebhookAdmin } from '../../shared/adapters/gitea/webhook-admin.ts';
import { GithubWebhookAdmin } from '../../shared/adapters/github/webhook-admin.ts';
import { GitlabWebhookAdmin } from '../../shared/adapters/gitlab/webhook-admin.ts';
import { FileSecretStore, MemoryIdempotencyStore } from '../../shared/adapters/local/memory.ts';
import { githubPushPayload } from '../../shared/adapters/local/push-webhook.ts';
import { ingestWebhook } from '../../shared/core/ingest.ts';
import {
  defaultWebhookSecretRef,
  listWebhooks,
  registerWebhook,
  rotateWebhookSecret,
  unregisterWebhook,
  webhookSecretsFor,
} from '../../shared/core/webhook-registration.ts';
import { GITHUB_SIGNATURE_HEADER, signGithub } from '../../shared/core/webhooks/signature.ts';
import type { Clock, WebhookAdmin } from '../../shared/ports/index.ts';
import { startSpecServer } from '../fixtures/api/spec-server.ts';
import { startFakeGithub } from './github-openapi.ts';

/** What a fake provider remembers of a hook, the secret included (the real one keeps it too). */
interface StoredHook {
  id: string;
  url: string;
  secret: string;
  active: boolean;
}

interface Provider {
  readonly admin: WebhookAdmin;
  readonly url: string;
  readonly hooks: Map<string, StoredHook>;
  readonly violations: string[];
  close(): Promise<void>;
}

const TOKEN = 'test-token-never-printed';

type Body =
  | { url?: string; secret?: string; token?: string; config?: { url?: string; secret?: string } }
  | undefined;

/**
 * A provider's hooks API over one in-memory table, answering in that provider's documented shape:
 * `shape` renders a hook, `list` wraps a page of them.
 */
const hookApi = (options: {
  shape: (hook: StoredHook) => unknown;
  list?: (hooks: unknown[]) => unknown;
  newId?: () => string;
}) => {
  const hooks = new Map<string, StoredHook>();
  let next = 1;
  const answer = (method: string, id: string | undefined, raw: unknown, page = 1) => {
    const body = raw as Body;
    const url = body?.url ?? body?.config?.url;
    const secret = body?.secret ?? body?.token ?? body?.config?.secret;
    if (method === 'GET') {
      const all = page === 1 ? [...hooks.values()].map(options.shape) : [];
      return { status: 200, body: options.list ? options.list(all) : all };
    }
    if (method === 'POST') {
      const hook = {
        id: options.newId?.() ?? String(next++),
        url: url ?? '',
        secret: secret ?? '',
        active: true,
      };
      hooks.set(hook.id, hook);
      return { status: 201, body: options.shape(hook) };
    }
    const hook = id === undefined ? undefined : hooks.get(id);
    if (!hook || id === undefined) return { status: 404, body: { message: 'Not Found' } };
    if (method === 'DELETE') return { status: hooks.delete(id) ? 204 : 404 };
    Object.assign(hook, url ? { url } : {}, secret ? { secret } : {});
    return { status: 200, body: options.shape(hook) };
  };
  return { hooks, answer };
};

const provider = (
  admin: WebhookAdmin,
  url: string,
  api: ReturnType<typeof hookApi>,
  server: { violations: string[]; close(): Promise<void> },
): Provider => ({ admin, url, hooks: api.hooks, violations: server.violations, close: server.close });

const startGithub = async (): Promise<Provider> => {
  const api = hookApi({
    shape: (h) => ({
      id: Number(h.id),
      name: 'web',
      active: h.active,
      events: ['push'],
      config: { url: h.url, content_type: 'json', insecure_ssl: '0' },
    }),
  });
  const server = await startFakeGithub((r) =>
    api.answer(r.method, /\/hooks\/(\d+)$/.exec(r.path)?.[1], r.body),
  );
  return provider(new GithubWebhookAdmin({ token: TOKEN, baseUrl: server.url }), server.url, api, server);
};

const startGitlab = async (): Promise<Provider> => {
  const api = hookApi({
    shape: (h) => ({ id: Number(h.id), url: h.url, push_events: true, tag_push_events: false }),
  });
  const server = await startSpecServer('gitlab-v4', (r) =>
    api.answer(r.method, r.params.hook_id, r.body, Number(r.query.page ?? 1)),
  );
  return provider(
    new GitlabWebhookAdmin({ token: TOKEN, baseUrl: server.origin }),
    server.origin,
    api,
    server,
  );
};

const startGitea = async (): Promise<Provider> => {
  const api = hookApi({
    shape: (h) => ({
      id: Number(h.id),
      type: 'gitea',
      active: h.active,
      events: ['push'],
      config: { url: h.url, content_type: 'json' },
    }),
  });
  const server = await startSpecServer('gitea-v1', (r) =>
    api.answer(r.method, r.params.id, r.body, Number(r.query.page ?? 1)),
  );
  const admin = new GiteaWebhookAdmin({ provider: 'gitea', token: TOKEN, baseUrl: server.origin });
  return provider(admin, server.origin, api, server);
};

const startBitbucket = async (): Promise<Provider> => {
  const api = hookApi({
    shape: (h) => ({
      uuid: h.id,
      url: h.url,
      description: 'Sluice',
      subject_type: 'repository',
      active: h.active,
      events: ['repo:push'],
      secret_set: true,
    }),
    list: (values) => ({ pagelen: 100, size: values.length, page: 1, values }),
    newId: () => `{${randomUUID()}}`,
  });
  const server = await startSpecServer('bitbucket-2.0', (r) => api.answer(r.method, r.params.uid, r.body));
  return provider(new BitbucketWebhookAdmin({ token: TOKEN, baseUrl: server.url }), server.url, api, server);
};

const PROVIDERS = [
  { name: 'github', repo: 'acme/fleet', start: startGithub },
  { name: 'gitlab', repo: 'acme/platform/fleet', start: startGitlab },
  { name: 'gitea', repo: 'acme/fleet', start: startGitea },
  { name: 'bitbucket', repo: 'acme/fleet', start: startBitbucket },
] as const;

let now = Date.parse('2026-01-01T00:00:00Z');
const clock: Clock = { now: () => new Date(now) };
let workdir = '';
let counter = 0;

beforeEach(async () => {
  workdir = await mkdtemp(path.join(tmpdir(), 'sluice-webhook-'));
});
afterEach(async () => {
  await rm(workdir, { recursive: true, force: true });
});

describe.each(PROVIDERS)(
  'sluice webhook against $name (a local server checking its published API)',
  ({ name, repo, start }) => {
    let provider: Provider;
    beforeEach(async () => {
      provider = await start();
    });
    afterEach(async () => {
      await provider.close();
    });

    const setup = () => {
      const secrets = new FileSecretStore(path.join(workdir, 'secrets.json'));
      const deps = {
        admin: provider.admin,
        secrets,
        clock,
        newSecret: () => `generated-secret-${++counter}`,
      };
      const target = {
        repo,
        url: `https://sluice.example.com/webhooks/${name}`,
        secretRef: defaultWebhookSecretRef(name, repo),
      };
      return { secrets, deps, target };
    };

    it('registers once however often it runs, and the provider holds the stored secret', async () => {
      // GIVEN a repo without hooks
      const { secrets, deps, target } = setup();
      // WHEN register runs twice
      const first = await registerWebhook(deps, target);
      const second = await registerWebhook(deps, target);
      // THEN there is one hook, created then updated, with the secret the store holds
      expect([first.action, second.action, first.secretCreated, second.secretCreated]).toEqual([
        'created',
        'updated',
        true,
        false,
      ]);
      expect([...provider.hooks.values()]).toMatchObject([
        { url: target.url, secret: first.secret, active: true },
      ]);
      expect(await secrets.get(`${target.secretRef}#current`)).toBe(first.secret);
      expect(provider.violations).toEqual([]);
    });

    it('rotates to a new secret while the old one stays accepted until the window ends', async () => {
      // GIVEN a registered hook
      const { secrets, deps, target } = setup();
      const registered = await registerWebhook(deps, target);
      // WHEN its secret is rotated with a one-hour window
      const rotated = await rotateWebhookSecret(deps, { ...target, windowSeconds: 3600 });
      // THEN the provider has the new secret and the ingest accepts both, then only the new one
      expect([...provider.hooks.values()].map((h) => h.secret)).toEqual([rotated.secret]);
      expect(await webhookSecretsFor(secrets, clock, target.secretRef)).toEqual([
        rotated.secret,
        registered.secret,
      ]);
      now += 3601 * 1000;
      expect(await webhookSecretsFor(secrets, clock, target.secretRef)).toEqual([rotated.secret]);
      expect(provider.violations).toEqual([]);
    });

    it('lists hooks without secrets and unregisters by URL', async () => {
      // GIVEN a registered hook
      const { deps, target } = setup();
      const { secret } = await registerWebhook(deps, target);
      // WHEN it is listed, unregistered, and unregistered again
      const listed = await listWebhooks(deps, { repo });
      const removed = await unregisterWebhook(deps, target);
      const again = await unregisterWebhook(deps, target);
      // THEN the list shows the URL but never the secret, and the hook is gone once
      expect(listed).toMatchObject([{ url: target.url, active: true }]);
      expect(JSON.stringify(listed)).not.toContain(secret);
      expect([removed.deleted.length, again.deleted.length, provider.hooks.size]).toEqual([1, 0, 0]);
      expect(provider.violations).toEqual([]);
    });
  },
);

describe('a rotated GitHub secret at the ingest', () => {
  it('accepts deliveries signed with the new and the previous secret, and no other', async () => {
    // GIVEN a registered, then rotated, hook and an ingest fed from the same store (as `sluice dev`)
    const github = await startGithub();
    const secrets = new FileSecretStore(path.join(workdir, 'secrets.json'));
    const repo = 'acme/fleet';
    const ref = defaultWebhookSecretRef('github', repo);
    const deps = { admin: github.admin, secrets, clock, newSecret: () => `generated-secret-${++counter}` };
    const target = { repo, url: 'https://sluice.example.com/webhooks/github', secretRef: ref };
    const old = (await registerWebhook(deps, target)).secret;
    const current = (await rotateWebhookSecret(deps, target)).secret;
    await github.close();
    const published: unknown[] = [];
    const ingestDeps = {
      bus: { publish: async (events: readonly unknown[]) => void published.push(...events) },
      deliveries: new MemoryIdempotencyStore(),
      clock,
      webhookSecrets: (provider: string, claimed?: string) =>
        claimed
          ? webhookSecretsFor(secrets, clock, defaultWebhookSecretRef(provider, claimed))
          : Promise.resolve([]),
      newTraceId: randomUUID,
    };
    // WHEN pushes signed with each secret arrive
    const deliver = (secret: string) => {
      const body = Buffer.from(
        JSON.stringify(
          githubPushPayload({
            repo,
            cloneUrl: `https://github.com/${repo}.git`,
            ref: 'refs/heads/main',
            before: 'a'.repeat(40),
            after: randomUUID().replaceAll('-', '').padEnd(40, '0'),
          }),
        ),
      );
      return ingestWebhook(ingestDeps, {
        provider: 'github',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': randomUUID(),
          [GITHUB_SIGNATURE_HEADER]: signGithub(secret, body),
        },
        body,
      });
    };
    const statuses = [
      (await deliver(current)).status,
      (await deliver(old)).status,
      (await deliver('guess')).status,
    ];
    // THEN both registered secrets are accepted and a third is refused
    expect(statuses).toEqual([202, 202, 401]);
    expect(published).toHaveLength(2);
  });
});

describe('sluice webhook (the command)', () => {
  it('registers through the GitHub API, says where the secret is, and prints it only with --show-secret', async () => {
    // GIVEN a GitHub that keeps hooks, and its token in the environment
    const github = await startGithub();
    const run = async (...args: string[]) =>
      (
        await promisify(execFile)(
          process.execPath,
          [
            path.join(import.meta.dirname, '../../bin/sluice.mjs'),
            'webhook',
            ...args,
            '--provider',
            'github',
            '--repo',
            'acme/fleet',
            '--api-url',
            github.url,
          ],
          { encoding: 'utf8', env: { ...process.env, SLUICE_GITHUB_TOKEN: TOKEN } },
        )
      ).stdout;
    const url = ['--url', 'https://sluice.example.com/webhooks/github', '--workdir', workdir];
    // WHEN it registers twice (the second time asking to see the secret), then lists
    const first = await run('register', ...url);
    const second = await run('register', ...url, '--show-secret');
    const listed = await run('list');
    await github.close();
    // THEN one hook exists, the output names the store, and the secret shows only when asked
    const secret = [...github.hooks.values()][0]?.secret ?? '';
    const stored = JSON.parse(await readFile(path.join(workdir, 'secrets.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(github.hooks.size).toBe(1);
    expect(stored['sluice/webhooks/github/acme/fleet#current']).toBe(secret);
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(first).toContain('created github webhook 1 on acme/fleet');
    expect(first).toContain(`secret generated and stored at sluice/webhooks/github/acme/fleet in ${workdir}`);
    expect(first + listed).not.toContain(secret);
    expect(second).toContain(`secret: ${secret}`);
    expect(listed).toContain('https://sluice.example.com/webhooks/github');
    expect(first + second + listed).not.toContain(TOKEN);
    expect(github.violations).toEqual([]);
  });
});
