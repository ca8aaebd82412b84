import type { AwsSettings } from '../../config/env.ts';
import { BadInputError } from '../../errors.ts';

const requireAws = (aws: AwsSettings | undefined): AwsSettings => {
  if (aws === undefined) {
    throw new BadInputError(
      'AWS adapter options',
      'neither `client` nor `aws` settings were given',
      'pass an SDK client, or `aws: readAwsSettings()` from shared/config/env.ts',
    );
  }
  return aws;
};

/** Constructor options shared by every SDK client; an endpoint points them all at an emulator. */
export const clientConfig = (aws: AwsSettings | undefined): { region: string; endpoint?: string } => {
  const settings = requireAws(aws);
  return settings.endpoint === undefined
    ? { region: settings.region }
    : { region: settings.region, endpoint: settings.endpoint };
};

/** Emulators serve buckets by path: `<bucket>.127.0.0.1` does not resolve. */
export const s3ClientConfig = (
  aws: AwsSettings | undefined,
): { region: string; endpoint?: string; forcePathStyle: boolean } => {
  const base = clientConfig(aws);
  return { ...base, forcePathStyle: base.endpoint !== undefined };
};
