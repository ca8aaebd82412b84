import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { FileSecretStore } from '../../shared/adapters/local/memory.ts';
import { RoutingSecretStore } from '../../shared/adapters/routing-secret-store.ts';
import { VaultSecretStore } from '../../shared/adapters/vault/vault-store.ts';
import { readVaultSettings } from '../../shared/config/env.ts';
import { type FakeVault, startFakeVault } from '../fixtures/api/vault-kv2-server.ts';
import { describeSecretStoreContract } from './secret-store.contract.ts';

const secretsFile = async () =>
  join(await mkdtemp(join(tmpdir(), 'sluice-secrets-contract-')), 'secrets.json');

describeSecretStoreContract('FileSecretStore (sluice dev, .sluice/secrets.json)', async () => ({
  store: new FileSecretStore(await secretsFile()),
  ref: (name) => `aws-sm://${name}`,
}));

/**
 * A real Vault when VAULT_ADDR and VAULT_TOKEN are set (a dev server has KV v2 at secret/), else
 * the local server that answers as Vault's documented KV v2 API does (test/fixtures/api).
 */
const real = readVaultSettings();
let fake: FakeVault | undefined;
const token = real?.token ?? 'hvs.contract-token';
beforeAll(async () => {
  if (!real) fake = await startFakeVault({ token });
});
afterAll(async () => {
  await fake?.close();
});
const vault = () =>
  new VaultSecretStore({
    address: real?.address ?? (fake as FakeVault).url,
    token,
    ...(real?.namespace ? { namespace: real.namespace } : {}),
  });

describeSecretStoreContract(
  `VaultSecretStore (${real ? 'Vault at VAULT_ADDR' : 'KV v2 API on 127.0.0.1'})`,
  async () => ({
    store: vault(),
    ref: (name) => `vault://secret/${name}`,
  }),
);

describeSecretStoreContract('RoutingSecretStore (the agent: aws-sm:// and vault:// by scheme)', async () => {
  const store = new RoutingSecretStore({
    schemes: { 'aws-sm': new FileSecretStore(await secretsFile()), vault: vault() },
  });
  let n = 0;
  return { store, ref: (name) => (n++ % 2 === 0 ? `vault://secret/${name}` : `aws-sm://${name}`) };
});
