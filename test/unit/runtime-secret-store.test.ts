import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimeSecretStore } from '../../shared/adapters/runtime-secret-store.ts';
import { VaultSecretStore } from '../../shared/adapters/vault/vault-store.ts';
import { type FakeVault, startFakeVault } from '../fixtures/api/vault-kv2-server.ts';

/**
 * Which store a reference reaches is the subject here, so Secrets Manager is a local server that
 * answers GetSecretValue (its JSON protocol) and records the names asked for; the adapter itself
 * is tested against LocalStack (test/aws/secrets-manager-store.test.ts).
 */
let sm: Server;
const asked: string[] = [];
let vault: FakeVault;
const TOKEN = 'test-vault-token';

beforeAll(async () => {
  sm = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      asked.push(`${req.headers['x-amz-target']} ${SecretId}`);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ Name: SecretId, SecretString: JSON.stringify({ password: 'from-sm' }) }));
    });
  });
  await new Promise<void>((ok) => sm.listen(0, '127.0.0.1', ok));
  vault = await startFakeVault({ token: TOKEN });
  await new VaultSecretStore({ address: vault.url, token: TOKEN }).put('vault://secret/team/db', {
    password: 'from-vault',
  });
});

afterAll(async () => {
  await new Promise((ok) => sm.close(ok));
  await vault.close();
});

const secretsManager = () =>
  new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${(sm.address() as AddressInfo).port}`,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });

describe('runtimeSecretStore', () => {
  it('resolves aws-sm:// and plain names in Secrets Manager, and vault:// in the Vault of VAULT_ADDR', async () => {
    // GIVEN an agent environment with VAULT_ADDR and VAULT_TOKEN
    const store = runtimeSecretStore({
      env: { AWS_REGION: 'us-east-1', VAULT_ADDR: vault.url, VAULT_TOKEN: TOKEN },
      secretsManager: secretsManager(),
    });
    asked.length = 0;

    // WHEN a manifest's references of each kind are resolved
    const values = [
      await store.get('aws-sm://sluice/db#password'),
      await store.get('sluice/other#password'),
      await store.get('vault://secret/team/db#password'),
    ];

    // THEN each reached its own store, and Secrets Manager saw only its two
    expect(values).toEqual(['from-sm', 'from-sm', 'from-vault']);
    expect(asked).toEqual([
      'secretsmanager.GetSecretValue sluice/db',
      'secretsmanager.GetSecretValue sluice/other',
    ]);
    expect(vault.requests.filter((r) => r.method === 'GET').map((r) => r.path)).toContain(
      '/v1/secret/data/team/db',
    );
  });

  it('without VAULT_ADDR refuses a vault:// reference, saying to set VAULT_ADDR, and still resolves aws-sm://', async () => {
    // GIVEN an agent environment without Vault
    const store = runtimeSecretStore({ env: { AWS_REGION: 'us-east-1' }, secretsManager: secretsManager() });
    const before = vault.requests.length;

    // WHEN a vault:// and an aws-sm:// reference are resolved
    const refused = store.get('vault://secret/team/db#password');

    // THEN the vault one is bad input naming the fix, no Vault was asked, and aws-sm:// works
    await expect(refused).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringContaining('set VAULT_ADDR and VAULT_TOKEN'),
    });
    expect(vault.requests.length).toBe(before);
    expect(await store.get('aws-sm://sluice/db#password')).toBe('from-sm');
  });

  it('fails loudly when VAULT_ADDR is set without VAULT_TOKEN', () => {
    // GIVEN VAULT_ADDR but no token WHEN the store is built THEN start-up fails naming VAULT_TOKEN
    expect(() =>
      runtimeSecretStore({
        env: { AWS_REGION: 'us-east-1', VAULT_ADDR: vault.url },
        secretsManager: secretsManager(),
      }),
    ).toThrow(/VAULT_TOKEN/);
  });
});
