import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySecretStore } from '../../shared/adapters/local/memory.ts';
import { RoutingSecretStore } from '../../shared/adapters/routing-secret-store.ts';
import { parseVaultRef, VaultSecretStore } from '../../shared/adapters/vault/vault-store.ts';
import { readVaultSettings } from '../../shared/config/env.ts';
import { type FakeVault, startFakeVault } from '../fixtures/api/vault-kv2-server.ts';

/**
 * The target is chosen once: a real Vault when VAULT_ADDR and VAULT_TOKEN are set (a dev server
 * has KV v2 at secret/), else the local server that speaks Vault's documented KV v2 API.
 */
const real = readVaultSettings();
let fake: FakeVault | undefined;
let address = '';
let token = '';
const base = `sluice-test/${randomUUID()}`;

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: { code: string; retryable: boolean; message: string; data: unknown }) => e,
  );

beforeAll(async () => {
  if (real) {
    ({ address, token } = real);
  } else {
    token = 'hvs.test-token';
    fake = await startFakeVault({ token });
    address = fake.url;
  }
});
afterAll(async () => {
  await fake?.close();
});

const store = (options: { now?: () => number; token?: string } = {}) =>
  new VaultSecretStore({
    address,
    token: options.token ?? token,
    ...(real?.namespace ? { namespace: real.namespace } : {}),
    ...(options.now ? { now: options.now } : {}),
  });

describe('parseVaultRef', () => {
  it('reads the mount from the first segment and defaults it for a single segment', () => {
    // GIVEN references with and without a mount, a version and a key
    // WHEN they are parsed
    // THEN the mount, path, version and key are where the grammar says
    expect(parseVaultRef('vault://kv/team/db?version=3#password')).toEqual({
      mount: 'kv',
      path: 'team/db',
      version: 3,
      key: 'password',
    });
    expect(parseVaultRef('vault://db#password')).toEqual({ mount: 'secret', path: 'db', key: 'password' });
    expect(parseVaultRef('vault://secret/app')).toEqual({ mount: 'secret', path: 'app' });
  });

  it('refuses empty keys, bad versions and dot segments with the grammar as the fix', () => {
    // GIVEN malformed references
    for (const ref of [
      'vault://secret/app#',
      'vault://secret/app?version=0',
      'vault://secret/../x',
      'vault://',
    ]) {
      // WHEN parsed THEN BAD_INPUT names the reference and shows the grammar
      expect(() => parseVaultRef(ref)).toThrow(/vault:\/\/<mount>\/<path>#<key>/);
    }
  });
});

describe(`VaultSecretStore (against ${real ? 'the Vault at VAULT_ADDR' : "a local server speaking Vault's KV v2 API"})`, () => {
  it('writes a secret and reads each key, the whole secret and a pinned version', async () => {
    // GIVEN a secret written twice through the store
    const vault = store();
    const ref = `vault://secret/${base}/db`;
    const first = await vault.write(ref, { password: 'one', user: 'app' });
    await vault.write(ref, { password: 'two', user: 'app' }, { cas: first.version as number });
    // WHEN keys, the whole secret and version 1 are read
    // THEN each holds what was written
    expect(await vault.get(`${ref}#password`)).toBe('two');
    expect(JSON.parse(await vault.get(ref))).toEqual({ password: 'two', user: 'app' });
    expect(await vault.get(`${ref}?version=${first.version}#password`)).toBe('one');
    expect(fake?.requests.every((r) => r.token === token) ?? true).toBe(true);
  });

  it('answers NOT_FOUND naming the reference for a missing secret, a missing key and a deleted version', async () => {
    // GIVEN one secret, then its latest version deleted through Vault's API
    const vault = store();
    const ref = `vault://secret/${base}/gone`;
    await vault.put(ref, { token: 's3cr3t-value' });
    const missingKey = await errorOf(vault.get(`${ref}#nope`));
    await fetch(`${address}/v1/secret/data/${base}/gone`, {
      method: 'DELETE',
      headers: {
        'x-vault-token': token,
        ...(real?.namespace ? { 'x-vault-namespace': real.namespace } : {}),
      },
    });
    // WHEN missing things are read
    const errors = [
      await errorOf(store().get(`vault://secret/${base}/never#x`)),
      missingKey,
      await errorOf(store().get(`${ref}#token`)),
    ];
    // THEN each is NOT_FOUND, names the reference, and never carries a value
    expect(errors.map((e) => e?.code)).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
    expect(errors[0]?.message).toContain(`vault://secret/${base}/never#x`);
    expect(JSON.stringify(errors.map((e) => [e?.message, e?.data]))).not.toContain('s3cr3t-value');
  });

  it('answers a clear, non-retryable PERMISSION_DENIED for a token Vault refuses, without the token', async () => {
    // GIVEN a store with a token Vault does not know
    const vault = store({ token: 'hvs.not-a-real-token' });
    // WHEN it reads
    const error = await errorOf(vault.get(`vault://secret/${base}/db#password`));
    // THEN the error says what to fix and never shows the token
    expect(error).toMatchObject({ code: 'PERMISSION_DENIED', retryable: false });
    expect(error?.message).toMatch(/VAULT_TOKEN.*"read" on secret\/data\//);
    expect(JSON.stringify([error?.message, error?.data])).not.toContain('hvs.not-a-real-token');
  });

  it('refuses a check-and-set write against a stale version with CONFLICT', async () => {
    // GIVEN a secret at version 1
    const vault = store();
    const ref = `vault://secret/${base}/cas`;
    await vault.write(ref, { a: '1' }, { cas: 0 });
    // WHEN a writer that still believes it does not exist writes with cas 0
    const error = await errorOf(vault.write(ref, { a: '2' }, { cas: 0 }));
    // THEN Vault refuses it and the value stays
    expect(error).toMatchObject({ code: 'CONFLICT', retryable: true });
    expect(await vault.get(`${ref}#a`)).toBe('1');
  });

  it('reuses a read value within the TTL and sees a new version after it', async () => {
    // GIVEN a cached read, then a new version written by another process
    let now = 1_000_000;
    const reader = store({ now: () => now });
    const ref = `vault://secret/${base}/rotating`;
    await store().put(ref, { key: 'old' });
    expect(await reader.get(`${ref}#key`)).toBe('old');
    await store().put(ref, { key: 'new' });
    // WHEN it reads again within the TTL, and after it
    const within = await reader.get(`${ref}#key`);
    now += 60_000;
    const after = await reader.get(`${ref}#key`);
    // THEN the first is the cached value and the second the new version
    expect([within, after]).toEqual(['old', 'new']);
  });
});

describe('VaultSecretStore when Vault cannot answer', () => {
  it('is UNAVAILABLE and retryable for a 503 and for a refused connection', async () => {
    // GIVEN a sealed Vault (a fault a healthy server cannot be made to produce, so a stub answers
    // 503 as Vault does when sealed) and an address nothing listens on
    const sealed = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: ['Vault is sealed'] }));
    });
    await new Promise<void>((resolve) => sealed.listen(0, '127.0.0.1', resolve));
    const port = (sealed.address() as AddressInfo).port;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    // WHEN each is read
    const errors = [
      await errorOf(
        new VaultSecretStore({ address: `http://127.0.0.1:${port}`, token: 't' }).get('vault://a#b'),
      ),
      await errorOf(
        new VaultSecretStore({ address: `http://127.0.0.1:${closedPort}`, token: 't' }).get('vault://a#b'),
      ),
    ];
    sealed.closeAllConnections();
    await new Promise<void>((resolve) => sealed.close(() => resolve()));
    // THEN both are retryable UNAVAILABLE naming the reference
    expect(errors.map((e) => [e?.code, e?.retryable])).toEqual([
      ['UNAVAILABLE', true],
      ['UNAVAILABLE', true],
    ]);
    expect(errors[0]?.message).toContain('vault://a#b');
  });
});

describe('RoutingSecretStore', () => {
  it('sends aws-sm:// to one store and vault:// to the other, and refuses an unknown scheme', async () => {
    // GIVEN Secrets Manager (in memory here) and the Vault under test behind one store
    const ref = `vault://secret/${base}/routed`;
    await store().put(ref, { url: 'from-vault' });
    const routed = new RoutingSecretStore({
      schemes: { 'aws-sm': new MemorySecretStore({ 'aws-sm://api/db#url': 'from-sm' }), vault: store() },
    });
    // WHEN references of each scheme are resolved
    // THEN each comes from its store; an unknown scheme and a write to a read-only store are BAD_INPUT
    expect(await routed.get('aws-sm://api/db#url')).toBe('from-sm');
    expect(await routed.get(`${ref}#url`)).toBe('from-vault');
    expect(await errorOf(routed.get('gcp-sm://x#y'))).toMatchObject({ code: 'BAD_INPUT' });
    expect(await errorOf(routed.put('aws-sm://api/db', { url: 'x' }))).toMatchObject({ code: 'BAD_INPUT' });
  });
});
