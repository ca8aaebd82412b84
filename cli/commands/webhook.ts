import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Command } from 'commander';
import { SecretsManagerStore } from '../../shared/adapters/aws/secrets-manager-store.ts';
import { BitbucketWebhookAdmin } from '../../shared/adapters/bitbucket/webhook-admin.ts';
import { GiteaWebhookAdmin } from '../../shared/adapters/gitea/webhook-admin.ts';
import { GithubWebhookAdmin } from '../../shared/adapters/github/webhook-admin.ts';
import { GitlabWebhookAdmin } from '../../shared/adapters/gitlab/webhook-admin.ts';
import { FileSecretStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { RoutingSecretStore } from '../../shared/adapters/routing-secret-store.ts';
import { VaultSecretStore } from '../../shared/adapters/vault/vault-store.ts';
import {
  providerEnvNames,
  readAwsSettings,
  readProviderApiSettings,
  readVaultSettings,
} from '../../shared/config/env.ts';
import {
  DEFAULT_ROTATION_WINDOW_SECONDS,
  defaultWebhookSecretRef,
  listWebhooks,
  registerWebhook,
  rotateWebhookSecret,
  unregisterWebhook,
} from '../../shared/core/webhook-registration.ts';
import { BadInputError } from '../../shared/errors.ts';
import type { WebhookAdmin, WebhookHook } from '../../shared/ports/index.ts';
import { DEFAULT_WORKDIR } from './status.ts';

/** The providers whose hooks `sluice webhook` manages, and how to reach each API. */
const ADMINS: Readonly<Record<string, (api: { token: string; apiUrl?: string }) => WebhookAdmin>> = {
  github: ({ token, apiUrl }) => new GithubWebhookAdmin({ token, ...(apiUrl ? { baseUrl: apiUrl } : {}) }),
  gitlab: ({ token, apiUrl }) => new GitlabWebhookAdmin({ token, ...(apiUrl ? { baseUrl: apiUrl } : {}) }),
  gitea: ({ token, apiUrl }) =>
    new GiteaWebhookAdmin({ provider: 'gitea', token, baseUrl: requireApiUrl('gitea', apiUrl) }),
  forgejo: ({ token, apiUrl }) =>
    new GiteaWebhookAdmin({ provider: 'forgejo', token, baseUrl: requireApiUrl('forgejo', apiUrl) }),
  bitbucket: ({ token, apiUrl }) =>
    new BitbucketWebhookAdmin({ token, ...(apiUrl ? { baseUrl: apiUrl } : {}) }),
};

const requireApiUrl = (provider: string, apiUrl: string | undefined): string => {
  if (apiUrl) return apiUrl;
  throw new BadInputError(
    `--provider ${provider}`,
    'has no public default server',
    `pass --api-url https://<your ${provider} host> or export ${providerEnvNames(provider).apiUrl}`,
  );
};

interface CommonOptions {
  provider: string;
  repo: string;
  apiUrl?: string;
  json?: boolean;
}

interface SecretOptions extends CommonOptions {
  url: string;
  secretRef?: string;
  workdir: string;
  showSecret?: boolean;
}

const adminFor = (options: CommonOptions): WebhookAdmin => {
  const make = ADMINS[options.provider];
  if (!make) {
    throw new BadInputError(
      `--provider ${options.provider}`,
      'is not a provider whose webhooks Sluice can manage',
      `use one of ${Object.keys(ADMINS).join(', ')} (others: register by hand, docs/providers)`,
    );
  }
  const api = readProviderApiSettings(options.provider);
  const apiUrl = options.apiUrl ?? api.apiUrl;
  return make({ token: api.token, ...(apiUrl ? { apiUrl } : {}) });
};

/**
 * Plain references live in the dev workdir's secrets.json (where `sluice dev` finds them);
 * `vault://` ones in the Vault of VAULT_ADDR/VAULT_TOKEN; `aws-sm://` ones in Secrets Manager of
 * AWS_REGION (and AWS_ENDPOINT_URL), where the deployed ingest reads `sluice/webhooks/<provider>/<repo>`.
 */
const secretsFor = (options: SecretOptions) => {
  const file = path.join(path.resolve(options.workdir), 'secrets.json');
  const vault = readVaultSettings();
  const ref = options.secretRef ?? defaultWebhookSecretRef(options.provider, options.repo);
  if (ref.includes('#')) {
    throw new BadInputError(
      `--secret-ref ${ref}`,
      'names a key',
      'pass the secret without #KEY; Sluice writes the keys current, previous and previousUntil',
    );
  }
  const awsSm = ref.startsWith('aws-sm://');
  const ingestRef = `aws-sm://${defaultWebhookSecretRef(options.provider, options.repo)}`;
  return {
    ref,
    where: /^[a-z][a-z0-9+.-]*:\/\//i.test(ref) ? ref : `${ref} in ${file}`,
    warnings:
      awsSm && ref !== ingestRef
        ? [`the deployed ingest looks this repo's secret up at ${ingestRef}, not ${ref}`]
        : [],
    store: new RoutingSecretStore({
      schemes: {
        ...(vault ? { vault: new VaultSecretStore(vault) } : {}),
        // Only when asked for: other references need no AWS region.
        ...(awsSm ? { 'aws-sm': new SecretsManagerStore({ aws: readAwsSettings() }) } : {}),
      },
      plain: new FileSecretStore(file),
    }),
  };
};

const deps = (options: SecretOptions) => {
  const secrets = secretsFor(options);
  return {
    secrets,
    deps: {
      admin: adminFor(options),
      secrets: secrets.store,
      clock: systemClock,
      newSecret: () => randomBytes(32).toString('hex'),
    },
  };
};

const describeHook = (hook: WebhookHook) =>
  `${hook.id}  ${hook.active ? 'active  ' : 'inactive'}  ${hook.events.join(',') || '-'}  ${hook.url}`;

const parseHours = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 24 * 90) {
    throw new BadInputError(
      `--window-hours ${value}`,
      'is not a rotation window',
      'pass hours from 0.01 to 2160',
    );
  }
  return n;
};

const common = (command: Command, withUrl: 'required' | 'optional'): Command => {
  command
    .requiredOption('--provider <p>', `the Git provider: ${Object.keys(ADMINS).join(', ')}`)
    .requiredOption(
      '--repo <owner/name>',
      'the repository (GitLab: group/sub/project; Bitbucket: workspace/slug)',
    )
    .option('--api-url <url>', 'the provider API (default: the public one; env SLUICE_<PROVIDER>_API_URL)')
    .option('--json', 'print JSON');
  if (withUrl === 'required')
    command.requiredOption('--url <url>', 'the Sluice ingest URL, e.g. https://…/webhooks/github');
  else command.option('--url <url>', 'only hooks pointing here');
  return command;
};

const secretFlags = (command: Command): Command =>
  command
    .option(
      '--secret-ref <ref>',
      'where the secret is kept: aws-sm://sluice/webhooks/<provider>/<repo> (the deployed ingest), vault://mount/path, or a plain name in <workdir>/secrets.json',
    )
    .option(
      '--workdir <dir>',
      'the `sluice dev` workdir whose secrets.json holds plain references',
      DEFAULT_WORKDIR,
    )
    .option('--show-secret', 'also print the secret (it is otherwise never shown)');

/**
 * `sluice webhook register|list|rotate|unregister`: a repo's push webhook on its provider, with a
 * generated secret kept in the secret store (never printed unless --show-secret).
 */
export const registerWebhookCommand = (program: Command): void => {
  const webhook = program
    .command('webhook')
    .description("manage a repository's push webhook on its Git provider");

  secretFlags(common(webhook.command('register'), 'required'))
    .description(
      'create the hook, or update the one at --url, with a generated secret stored in the secret store',
    )
    .action(async (options: SecretOptions) => {
      const { deps: d, secrets } = deps(options);
      const result = await registerWebhook(d, {
        repo: options.repo,
        url: options.url,
        secretRef: secrets.ref,
      });
      if (options.json) {
        console.log(
          JSON.stringify({
            action: result.action,
            hook: result.hook,
            secretRef: secrets.ref,
            secretCreated: result.secretCreated,
            duplicates: result.duplicates,
            warnings: [...result.warnings, ...secrets.warnings],
            ...(options.showSecret ? { secret: result.secret } : {}),
          }),
        );
        return;
      }
      for (const warning of [...result.warnings, ...secrets.warnings]) console.error(`warning: ${warning}`);
      console.log(
        `${result.action} ${options.provider} webhook ${result.hook.id} on ${options.repo} → ${result.hook.url}`,
      );
      console.log(`secret ${result.secretCreated ? 'generated and stored' : 'reused'} at ${secrets.where}`);
      for (const duplicate of result.duplicates) {
        console.error(
          `warning: hook ${duplicate.id} also points at this URL; remove it by hand or with unregister`,
        );
      }
      if (options.showSecret) console.log(`secret: ${result.secret}`);
    });

  common(webhook.command('list'), 'optional')
    .description("the repository's webhooks (never their secrets)")
    .action(async (options: CommonOptions & { url?: string }) => {
      const hooks = (await listWebhooks({ admin: adminFor(options) }, { repo: options.repo })).filter(
        (hook) => options.url === undefined || hook.url === options.url,
      );
      if (options.json) console.log(JSON.stringify({ hooks }));
      else if (hooks.length === 0) console.log(`no webhooks on ${options.repo}`);
      else for (const hook of hooks) console.log(describeHook(hook));
    });

  secretFlags(common(webhook.command('rotate'), 'required'))
    .option(
      '--window-hours <h>',
      'how long the old secret is still accepted',
      parseHours,
      DEFAULT_ROTATION_WINDOW_SECONDS / 3600,
    )
    .description('a new secret for the hook; the old one stays accepted for the rotation window')
    .action(async (options: SecretOptions & { windowHours: number }) => {
      const { deps: d, secrets } = deps(options);
      const result = await rotateWebhookSecret(d, {
        repo: options.repo,
        url: options.url,
        secretRef: secrets.ref,
        windowSeconds: Math.round(options.windowHours * 3600),
      });
      if (options.json) {
        console.log(
          JSON.stringify({
            hooks: result.hooks,
            secretRef: secrets.ref,
            previousUntil: result.previousUntil,
            ...(options.showSecret ? { secret: result.secret } : {}),
          }),
        );
        return;
      }
      console.log(`rotated the secret of ${result.hooks.map((h) => h.id).join(', ')} on ${options.repo}`);
      console.log(
        `new secret stored at ${secrets.where}; the previous one is accepted until ${result.previousUntil}`,
      );
      if (options.showSecret) console.log(`secret: ${result.secret}`);
    });

  common(webhook.command('unregister'), 'required')
    .description('delete the hook(s) pointing at --url (the stored secret stays)')
    .action(async (options: CommonOptions & { url: string }) => {
      const result = await unregisterWebhook(
        { admin: adminFor(options) },
        { repo: options.repo, url: options.url },
      );
      if (options.json) console.log(JSON.stringify({ deleted: result.deleted }));
      else if (result.deleted.length === 0)
        console.log(`no webhook on ${options.repo} points at ${options.url}`);
      else console.log(`deleted ${result.deleted.map((h) => h.id).join(', ')} from ${options.repo}`);
    });
};
