import { describe, expect, it } from 'vitest';
import { readAwsSettings, requireEnv } from '../../shared/config/env.ts';
import { isSluiceError } from '../../shared/errors.ts';

describe('readAwsSettings', () => {
  it('takes the region and the emulator endpoint from the environment', () => {
    // GIVEN / WHEN / THEN
    expect(readAwsSettings({ AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' })).toEqual({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:4566',
    });
    expect(readAwsSettings({ AWS_DEFAULT_REGION: 'us-east-2', AWS_ENDPOINT_URL: ' ' })).toEqual({
      region: 'us-east-2',
    });
  });

  it('fails loudly, naming the variable and the fix, when a setting is missing or malformed', () => {
    // GIVEN no region, a bad endpoint, and a missing required name
    const attempts = [
      () => readAwsSettings({}),
      () => readAwsSettings({ AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: 'not a url' }),
      () => requireEnv('SLUICE_BUS_NAME', {}),
    ];

    // WHEN each is read THEN each throws CONFIG_INVALID naming its variable
    const errors = attempts.map((attempt) => {
      try {
        attempt();
        return undefined;
      } catch (error) {
        return error;
      }
    });
    expect(errors.map((error) => isSluiceError(error) && error.code)).toEqual(
      Array(3).fill('CONFIG_INVALID'),
    );
    expect(errors.map((error) => (error as Error).message)).toEqual([
      expect.stringContaining('AWS_REGION'),
      expect.stringContaining('AWS_ENDPOINT_URL'),
      expect.stringContaining('SLUICE_BUS_NAME'),
    ]);
  });
});
