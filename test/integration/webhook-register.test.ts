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

/** A provider's hooks API over one in-memory table; each answers in its provider's documented shape. */
const hookTable = () => {
  const hooks = new Map<string, StoredHook>();
  let next = 1;
  return {
    hooks,
    create: (url: string, secret: string, id = String(next++)) => {
      const hook = { id, url, secret, active: true };
      hooks.set(id, hook);
      return hook;
    },
    update: (id: string, url: string | undefined, secret: string | undefined) => {
      const hook = hooks.get(id);
      if (!hook) return undefined;
      Object.assign(hook, url ? { url } : {}, secret ? { secret } : {});
      return hook;
    },
  };
};

const TOKEN = 'test-token-never-printed';

const startGithub = async (): Promise<Provider> => {
  const table = hookTable();
  const shape = (h: StoredHook) => ({
    id: Number(h.id),
    name: 'web',
    active: h.active,
    events: ['push'],
    config: { url: h.url, content_type: 'json', insecure_ssl: '0' },
  });
  const server = await startFakeGithub((request) => {
    const id = /\/hooks\/(\d+)$/.exec(request.path)?.[1];
    const body = request.body as { config?: { url?: string; secret?: string } } | undefined;
    if (request.method === 'GET') return { status: 200, body: [...table.hooks.values()].map(shape) };
    if (request.method === 'POST')
      return { status: 201, body: shape(table.create(body?.config?.url ?? '', body?.config?.secret ?? '')) };
    const hook = id ? table.hooks.get(id) : undefined;
    if (!id || !hook) return { status: 404, body: { message: 'Not Found' } };
    if (request.method === 'DELETE') return table.hooks.delete(id) ? { status: 204 } : { status: 404 };
    return {
      status: 200,
      body: shape(table.update(id, body?.config?.url, body?.config?.secret) as StoredHook),
    };
  });
  return {
    admin: new GithubWebhookAdmin({ token: TOKEN, baseUrl: server.url }),
    url: server.url,
    hooks: table.hooks,
    violations: server.violations,
    close: server.close,
  };
};

const startGitlab = async (): Promise<Provider> => {
  const table = hookTable();
  const shape = (h: StoredHook) => ({
    id: Number(h.id),
    url: h.url,
    push_events: true,
    tag_push_events: false,
  });
  const server = await startSpecServer('gitlab-v4', (request) => {
    const body = request.body as { url?: string; token?: string } | undefined;
    const id = request.params.hook_id;
    if (request.method === 'GET') return { status: 200, body: [...table.hooks.values()].map(shape) };
    if (request.method === 'POST')
      return { status: 201, body: shape(table.create(body?.url ?? '', body?.token ?? '')) };
    if (!id || !table.hooks.has(id)) return { status: 404, body: { message: '404 Not found' } };
    if (request.method === 'DELETE') return table.hooks.delete(id) ? { status: 204 } : { status: 404 };
    return { status: 200, body: shape(table.update(id, body?.url, body?.token) as StoredHook) };
  });
  return {
    admin: new GitlabWebhookAdmin({ token: TOKEN, baseUrl: server.origin }),
    url: server.origin,
    hooks: table.hooks,
    violations: server.violations,
    close: server.close,
  };
};

const startGitea = async (): Promise<Provider> => {
  const table = hookTable();
  const shape = (h: StoredHook) => ({
    id: Number(h.id),
    type: 'gitea',
    active: h.active,
    events: ['push'],
    config: { url: h.url, content_type: 'json' },
  });
  const server = await startSpecServer('gitea-v1', (request) => {
    const body = request.body as { config?: { url?: string; secret?: string } } | undefined;
    const id = request.params.id;
    if (request.method === 'GET') {
      const page = Number(request.query.page ?? 1);
      return { status: 200, body: page === 1 ? [...table.hooks.values()].map(shape) : [] };
    }
    if (request.method === 'POST')
      return { status: 201, body: shape(table.create(body?.config?.url ?? '', body?.config?.secret ?? '')) };
    if (!id || !table.hooks.has(id)) return { status: 404, body: { message: 'not found' } };
    if (request.method === 'DELETE') return table.hooks.delete(id) ? { status: 204 } : { status: 404 };
    return {
      status: 200,
      body: shape(table.update(id, body?.config?.url, body?.config?.secret) as StoredHook),
    };
  });
  return {
    admin: new GiteaWebhookAdmin({ provider: 'gitea', token: TOKEN, baseUrl: server.origin }),
    url: server.origin,
    hooks: table.hooks,
    violations: server.violations,
    close: server.close,
  };
};

const startBitbucket = async (): Promise<Provider> => {
  const table = hookTable();
  const shape = (h: StoredHook) => ({
    uuid: h.id,
    url: h.url,
    description: 'Sluice',
    subject_type: 'repository',
    active: h.active,
    events: ['repo:push'],
    secret_set: true,
  });
  const server = await startSpecServer('bitbucket-2.0', (request) => {
    const body = request.body as { url?: string; secret?: string } | undefined;
    const id = request.params.uid;
    if (request.method === 'GET') {
      return {
        status: 200,
        body: { pagelen: 100, size: table.hooks.size, page: 1, values: [...table.hooks.values()].map(shape) },
      };
    }
    if (request.method === 'POST') {
      return {
        status: 201,
        body: shape(table.create(body?.url ?? '', body?.secret ?? '', `{${randomUUID()}}`)),
      };
    }
    if (!id || !table.hooks.has(id))
      return { status: 404, body: { type: 'error', error: { message: 'Not found' } } };
    if (request.method === 'DELETE') return table.hooks.delete(id) ? { status: 204 } : { status: 404 };
    return { status: 200, body: shape(table.update(id, body?.url, body?.secret) as StoredHook) };
  });
  return {
    admin: new BitbucketWebhookAdmin({ token: TOKEN, baseUrl: server.url }),
    url: server.url,
    hooks: table.hooks,
    violations: server.violations,
    close: server.close,
  };
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
