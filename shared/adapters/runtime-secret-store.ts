/**
 * The SecretStore an agent resolves manifest references with: `aws-sm://` (and plain names) in
 * Secrets Manager, `vault://` in Vault — only when VAULT_ADDR is set, so an agent without Vault
 * answers a vault:// reference with "set VAULT_ADDR and VAULT_TOKEN" instead of a connection error.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readAwsSettings, readVaultSettings } from '../config/env.ts';
import { SecretsManagerStore } from './aws/secrets-manager-store.ts';
import { RoutingSecretStore } from './routing-secret-store.ts';
import { VaultSecretStore } from './vault/vault-store.ts';

export interface RuntimeSecretStoreOptions {
  /** The environment (default: the process's, read by shared/config/env.ts) to read AWS_REGION/AWS_ENDPOINT_URL and VAULT_ADDR/VAULT_TOKEN/VAULT_NAMESPACE from. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A Secrets Manager client to use instead of one built from the environment. */
  readonly secretsManager?: SecretsManagerClient;
}

export const runtimeSecretStore = (options: RuntimeSecretStoreOptions = {}): RoutingSecretStore => {
  const sm = new SecretsManagerStore(
    options.secretsManager ? { client: options.secretsManager } : { aws: readAwsSettings(options.env) },
  );
  const vault = readVaultSettings(options.env);
  return new RoutingSecretStore({
    schemes: { 'aws-sm': sm, ...(vault ? { vault: new VaultSecretStore(vault) } : {}) },
    plain: sm,
  });
};
