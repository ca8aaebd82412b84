/**
 * The one module that reads `process.env`. Everything else receives plain, validated settings,
 * so a missing or malformed variable fails at start-up with a message naming it and the fix.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.ts';

export interface AwsSettings {
  readonly region: string;
  /** Set for an emulator (LocalStack) or a VPC endpoint; unset means the public AWS endpoints. */
  readonly endpoint?: string;
}

const awsEnvSchema = z.object({
  AWS_REGION: z.string().min(1).optional(),
  AWS_DEFAULT_REGION: z.string().min(1).optional(),
  AWS_ENDPOINT_URL: z.url().optional(),
});

type Env = Readonly<Record<string, string | undefined>>;

/** Region and optional endpoint for every AWS client, from AWS_REGION/AWS_DEFAULT_REGION and AWS_ENDPOINT_URL. */
export const readAwsSettings = (env: Env = process.env): AwsSettings => {
  const parsed = awsEnvSchema.safeParse(blankToUndefined(env));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'AWS_*');
    throw new ConfigError(
      'environment',
      name,
      `${issue?.message ?? 'invalid value'} (got ${JSON.stringify(env[name])})`,
      `set ${name} to a valid value, e.g. AWS_ENDPOINT_URL=http://127.0.0.1:4566`,
    );
  }
  const region = parsed.data.AWS_REGION ?? parsed.data.AWS_DEFAULT_REGION;
  if (region === undefined) {
    throw new ConfigError('environment', 'AWS_REGION', 'no AWS region is set', 'export AWS_REGION=us-east-1');
  }
  const endpoint = parsed.data.AWS_ENDPOINT_URL;
  return endpoint === undefined ? { region } : { region, endpoint };
};

/** Reads one required setting (a bus name, a bucket, a queue URL), failing loudly when it is absent. */
export const requireEnv = (name: string, env: Env = process.env): string => {
  const value = env[name]?.trim();
  if (!value) {
    throw new ConfigError('environment', name, 'is not set', `export ${name}=<value> before starting`);
  }
  return value;
};

const blankToUndefined = (env: Env): Record<string, string | undefined> =>
  Object.fromEntries(
    ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL'].map((name) => [
      name,
      env[name]?.trim() || undefined,
    ]),
  );
