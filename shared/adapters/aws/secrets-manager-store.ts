import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { AwsSettings } from '../../config/env.ts';
import { BadInputError, NotFoundError, type SluiceError } from '../../errors.ts';
import type { WritableSecretStore } from '../../ports/index.ts';
import { TtlCache } from '../ttl-cache.ts';
import { clientConfig } from './client-config.ts';
import { awsErrorName, translateAwsError } from './errors.ts';

export interface SecretsManagerStoreOptions {
  readonly client?: SecretsManagerClient;
  readonly aws?: AwsSettings;
  /** How long a fetched secret is reused; a rotation shows up within this time. @default 60_000 */
  readonly ttlMs?: number;
  /** Milliseconds since the epoch; injectable so tests can move time. @default Date.now */
  readonly now?: () => number;
}

export interface SecretRef {
  readonly name: string;
  readonly key?: string;
}

const SCHEME = 'aws-sm://';

/** `aws-sm://NAME#KEY`, `aws-sm://NAME` or a plain `NAME`; other schemes belong to other stores. */
export const parseSecretRef = (ref: string): SecretRef => {
  let rest = ref;
  if (ref.startsWith(SCHEME)) rest = ref.slice(SCHEME.length);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) {
    throw new BadInputError(
      `secret reference "${ref}"`,
      'uses a scheme the Secrets Manager store cannot resolve',
      'write it as aws-sm://NAME#KEY, or configure the store that owns this scheme',
    );
  }
  const hash = rest.indexOf('#');
  const name = hash === -1 ? rest : rest.slice(0, hash);
  const key = hash === -1 ? undefined : rest.slice(hash + 1);
  if (name === '' || key === '') {
    throw new BadInputError(
      `secret reference "${ref}"`,
      'has an empty name or key',
      'write aws-sm://NAME#KEY',
    );
  }
  return key === undefined ? { name } : { name, key };
};

/**
 * Secrets Manager behind a short cache: one GetSecretValue per secret per TTL, shared by
 * concurrent callers. No message, error or data field ever carries a secret value.
 */
export class SecretsManagerStore implements WritableSecretStore {
  readonly #client: SecretsManagerClient;
  readonly #cache: TtlCache<string>;

  constructor(options: SecretsManagerStoreOptions = {}) {
    this.#client = options.client ?? new SecretsManagerClient(clientConfig(options.aws));
    this.#cache = new TtlCache({
      ttlMs: options.ttlMs ?? 60_000,
      ...(options.now ? { now: options.now } : {}),
    });
  }

  async get(ref: string): Promise<string> {
    const { name, key } = parseSecretRef(ref);
    const secret = await this.#secretString(name);
    if (key === undefined) return secret;
    let parsed: unknown;
    try {
      parsed = JSON.parse(secret);
    } catch {
      // No cause: JSON.parse's message quotes the text it failed on, i.e. the secret.
      throw new BadInputError(
        `secret "${name}"`,
        `is not a JSON object, so key "${key}" cannot be read from it`,
        `store the secret as {"${key}": "..."} or reference the whole secret as aws-sm://${name}`,
      );
    }
    const value =
      typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[key] : undefined;
    if (value === undefined || value === null) {
      throw new NotFoundError(`key "${key}" in secret "${name}"`, { secret: name, key });
    }
    if (typeof value === 'object') {
      throw new BadInputError(
        `key "${key}" in secret "${name}"`,
        'holds an object or array, not a string',
        'store a string (or number/boolean) under that key',
      );
    }
    return String(value);
  }

  /**
   * Stores `fields` as the JSON secret `ref` (a new version; CreateSecret when it does not exist
   * yet). This process reads the new value at once; others within their cache TTL.
   */
  async put(ref: string, fields: Readonly<Record<string, string>>): Promise<void> {
    const { name, key } = parseSecretRef(ref);
    if (key !== undefined) {
      throw new BadInputError(
        `secret reference "${ref}"`,
        'names a key, but a write replaces the whole secret',
        `pass aws-sm://${name}`,
      );
    }
    const SecretString = JSON.stringify(fields);
    const write = async (): Promise<void> => {
      try {
        await this.#client.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
      } catch (error) {
        if (awsErrorName(error) !== 'ResourceNotFoundException') throw error;
        try {
          await this.#client.send(new CreateSecretCommand({ Name: name, SecretString }));
        } catch (created) {
          // Another writer created it in between: write over it as a new version.
          if (awsErrorName(created) !== 'ResourceExistsException') throw created;
          await this.#client.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
        }
      }
    };
    try {
      await write();
    } catch (error) {
      throw translateAwsError(error, `secret "${name}"`, { secret: name });
    } finally {
      this.#cache.delete(name);
    }
  }

  #secretString(name: string): Promise<string> {
    return this.#cache.get(name, () => this.#fetch(name));
  }

  async #fetch(name: string): Promise<string> {
    try {
      const output = await this.#client.send(new GetSecretValueCommand({ SecretId: name }));
      if (output.SecretString !== undefined) return output.SecretString;
      if (output.SecretBinary !== undefined) return Buffer.from(output.SecretBinary).toString('utf8');
      throw new NotFoundError(`value of secret "${name}"`, { secret: name });
    } catch (error) {
      const translated: SluiceError = translateAwsError(error, `secret "${name}"`, { secret: name });
      throw translated;
    }
  }
}
