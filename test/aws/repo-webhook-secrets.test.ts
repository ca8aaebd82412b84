import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import {
  defaultWebhookSecretRef,
  registerWebhook,
  repoWebhookSecrets,
  rotateWebhookSecret,
} from '../../shared/core/webhook-registration.ts';
import type { WebhookAdmin, WebhookHook } from '../../shared/ports/index.ts';
import { aws, clients, uniqueName } from './support.ts';

/** The provider side is not under test here: an in-process list of hooks stands in for its API. */
const memoryAdmin = (): WebhookAdmin => {
  const hooks: WebhookHook[] = [];
  return {
    provider: 'github',
    list: async () => [...hooks],
    create: async (_repo, input) => {
      const hook = { id: String(hooks.length + 1), url: input.url, active: true, events: ['push'] };
      hooks.push(hook);
      return hook;
    },
    update: async (_repo, id, input) => ({ id, url: input.url, active: true, events: ['push'] }),
    delete: async () => {},
  };
};

const URL = 'https://sluice.example.com/webhooks/github';

describe('repoWebhookSecrets over Secrets Manager (the deployed ingest)', () => {
  it('accepts the secret register stored for the repo, both secrets during a rotation, and only the new one after it', async () => {
    // GIVEN a repo registered with --secret-ref aws-sm://sluice/webhooks/github/<repo>, and a shared secret
    const repo = uniqueName('acme/fleet');
    const ref = `aws-sm://${defaultWebhookSecretRef('github', repo)}`;
    let now = Date.parse('2030-01-01T00:00:00Z');
    const clock = { now: () => new Date(now) };
    let n = 0;
    const deps = {
      admin: memoryAdmin(),
      secrets: new SecretsManagerStore({ aws: aws() }),
      clock,
      newSecret: () => `secret-${++n}`,
    };
    await registerWebhook(deps, { repo, url: URL, secretRef: ref });
    // A fresh store per lookup: the ingest Lambda after its cache has expired.
    const lookup = (provider: string, claimed?: string) =>
      repoWebhookSecrets({
        store: new SecretsManagerStore({ aws: aws() }),
        clock,
        fallback: async () => ['shared-secret'],
      })(provider, claimed);

    // WHEN the ingest looks the repo up THEN it gets the registered secret, not the shared one
    expect(await lookup('github', repo)).toEqual(['secret-1']);

    // WHEN the secret is rotated with a one-hour window THEN both are accepted
    await rotateWebhookSecret(deps, { repo, url: URL, secretRef: ref, windowSeconds: 3600 });
    expect(await lookup('github', repo)).toEqual(['secret-2', 'secret-1']);

    // WHEN the window has passed THEN only the new one is
    now += 3601_000;
    expect(await lookup('github', repo)).toEqual(['secret-2']);
  });

  it('falls back to the shared secret for a repo without its own, and never looks up a name it cannot trust', async () => {
    // GIVEN no secret for a repo, and the shared secret as fallback
    const lookup = repoWebhookSecrets({
      store: new SecretsManagerStore({ aws: aws() }),
      clock: { now: () => new Date() },
      fallback: async (provider) => [`shared-${provider}`],
    });

    // WHEN the ingest looks up an unregistered repo, one with a name outside what a secret name
    // may hold, one with a dot-only segment, and none at all
    const results = await Promise.all([
      lookup('github', uniqueName('acme/unregistered')),
      lookup('github', 'acme/fleet?x=1'),
      lookup('github', 'acme/../other'),
      lookup('gitlab'),
    ]);

    // THEN each gets the shared secret
    expect(results).toEqual([['shared-github'], ['shared-github'], ['shared-github'], ['shared-gitlab']]);
  });
});

describe('SecretsManagerStore.put', () => {
  it('creates a missing secret, writes a new version of an existing one, and reads its own write at once', async () => {
    // GIVEN a store that has read (and cached) an existing secret, and a name that does not exist
    const existing = uniqueName('sluice/webhooks/github/acme');
    await clients().secrets.send(
      new CreateSecretCommand({ Name: existing, SecretString: JSON.stringify({ current: 'old' }) }),
    );
    const missing = uniqueName('sluice/webhooks/github/acme');
    const store = new SecretsManagerStore({ aws: aws() });
    expect(await store.get(`aws-sm://${existing}#current`)).toBe('old');

    // WHEN both are written
    await store.put(`aws-sm://${existing}`, { current: 'new', previous: 'old' });
    await store.put(`aws-sm://${missing}`, { current: 'first' });

    // THEN Secrets Manager holds the JSON documents, and the store serves them without waiting for its TTL
    const stored = await clients().secrets.send(new GetSecretValueCommand({ SecretId: missing }));
    expect(JSON.parse(stored.SecretString ?? '')).toEqual({ current: 'first' });
    expect(await store.get(`aws-sm://${existing}#current`)).toBe('new');
    expect(await store.get(`aws-sm://${existing}#previous`)).toBe('old');
  });

  it('refuses a reference with a #key, without writing', async () => {
    // GIVEN a store WHEN a write names a key THEN it is refused as bad input naming the fix
    const store = new SecretsManagerStore({ aws: aws() });
    const name = uniqueName('sluice/webhooks/github/acme');
    await expect(store.put(`aws-sm://${name}#current`, { current: 'x' })).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringContaining(`aws-sm://${name}`),
    });
    await expect(store.get(`aws-sm://${name}`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
