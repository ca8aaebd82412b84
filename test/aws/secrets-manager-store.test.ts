import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { isSluiceError } from '../../shared/errors.ts';
import { aws, clients, uniqueName } from './support.ts';

const secret = async (value: string): Promise<string> => {
  const name = uniqueName('sluice/git');
  await clients().secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return name;
};

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );

describe('SecretsManagerStore', () => {
  it('picks up a rotated value only once the cache TTL has passed', async () => {
    // GIVEN a JSON secret read through a store with a 60 s TTL and a clock the test moves
    const name = await secret(JSON.stringify({ token: 'v1-token' }));
    let now = 1_000_000;
    const store = new SecretsManagerStore({ aws: aws(), ttlMs: 60_000, now: () => now });
    expect(await store.get(`aws-sm://${name}#token`)).toBe('v1-token');

    // WHEN the secret is rotated
    await clients().secrets.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify({ token: 'v2-token' }) }),
    );

    // THEN the old value is served within the TTL, and the new one after it
    now += 59_000;
    expect(await store.get(`aws-sm://${name}#token`)).toBe('v1-token');
    now += 2_000;
    expect(await store.get(`aws-sm://${name}#token`)).toBe('v2-token');
  });

  it('resolves a whole secret by aws-sm:// reference or by plain name', async () => {
    // GIVEN a plain-text secret
    const name = await secret('-----BEGIN KEY-----');
    const store = new SecretsManagerStore({ aws: aws() });

    // WHEN it is read both ways THEN both give the whole string
    expect(await store.get(`aws-sm://${name}`)).toBe('-----BEGIN KEY-----');
    expect(await store.get(name)).toBe('-----BEGIN KEY-----');
  });

  it('never puts the secret value in an error', async () => {
    // GIVEN a secret that is not JSON, and one without the asked-for key
    const plain = await secret('hunter2-do-not-leak');
    const json = await secret(JSON.stringify({ other: 'hunter3-do-not-leak' }));
    const store = new SecretsManagerStore({ aws: aws() });

    // WHEN keys are read from them
    const notJson = await failure(store.get(`aws-sm://${plain}#token`));
    const noKey = await failure(store.get(`aws-sm://${json}#token`));

    // THEN the errors name the secret and key, and carry no value anywhere
    expect(isSluiceError(notJson) && notJson.code).toBe('BAD_INPUT');
    expect(isSluiceError(noKey) && noKey.code).toBe('NOT_FOUND');
    for (const error of [notJson, noKey]) {
      const everything = JSON.stringify({
        json: error,
        message: (error as Error).message,
        cause: (error as Error).cause,
      });
      expect(everything).toContain('token');
      expect(everything).not.toContain('do-not-leak');
    }
  });

  it('reports a secret that does not exist as NOT_FOUND, and a foreign scheme as BAD_INPUT', async () => {
    // GIVEN a store
    const store = new SecretsManagerStore({ aws: aws() });

    // WHEN a missing secret and a vault:// reference are read
    const missing = await failure(store.get(`aws-sm://${uniqueName('missing')}#token`));
    const vault = await failure(store.get('vault://kv/git#token'));

    // THEN
    expect(isSluiceError(missing) && missing.code).toBe('NOT_FOUND');
    expect(isSluiceError(vault) && vault.code).toBe('BAD_INPUT');
  });
});
