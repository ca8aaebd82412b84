import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { secretCommitSigner } from '../../shared/adapters/git/commit-signing.ts';
import { BadInputError } from '../../shared/errors.ts';
import { openAws, type TargetFlags, targetOptions } from '../operate.ts';

/**
 * Sluice's own commit-signing public key: the OpenSSH line a trust policy enrols as a signer's
 * `ssh:` so the reverts rollback writes may deploy (docs/provenance.md). Locally the workdir's
 * `state/commit-signing.pub`; with --aws, derived from the stack's secret (read with the caller's
 * credentials, never printed: only the public half leaves this process).
 */
export const sluiceKey = async (options: TargetFlags): Promise<string> => {
  if (!options.aws) {
    const file = path.join(path.resolve(options.workdir), 'state', 'commit-signing.pub');
    const line = await readFile(file, 'utf8').catch(() => undefined);
    if (line === undefined) {
      throw new BadInputError(
        file,
        'does not exist',
        'start `sluice dev` once with this --workdir (it creates the key), or pass --aws for a deployed stack',
      );
    }
    return line.trim();
  }
  const access = await openAws(options);
  const secret = access.resources.commitSigningKey;
  if (secret === undefined) {
    throw new BadInputError(
      access.resources.source,
      'has no CommitSigningKeySecretArn output, so this stack holds no commit-signing key',
      'deploy the management stack of this Sluice version (it creates the key), then run this again',
    );
  }
  const store = new SecretsManagerStore({ client: new SecretsManagerClient(access.config) });
  return (await secretCommitSigner({ secrets: store, secret }).load()).publicKey;
};

export const registerTrust = (program: Command): void => {
  const trust = program.command('trust').description('keys to enrol in a trust policy (docs/provenance.md)');
  targetOptions(
    trust
      .command('sluice-key')
      .description(
        "print Sluice's own commit-signing public key: the signers[].ssh line that lets its reverts deploy",
      ),
  ).action(async (options: TargetFlags) => {
    console.log(await sluiceKey(options));
  });
};
