/** The one provider table: `/webhooks/<name>` → how that provider's deliveries are read. */
import { azureDevops } from './azure-devops.ts';
import { bitbucket, bitbucketServer } from './bitbucket.ts';
import { generic } from './generic.ts';
import { forgejo, gitea, gogs } from './gitea.ts';
import { github } from './github.ts';
import { gitlab } from './gitlab.ts';
import type { WebhookProvider } from './provider.ts';

export const WEBHOOK_PROVIDERS: ReadonlyMap<string, WebhookProvider> = new Map(
  [github, gitlab, bitbucket, bitbucketServer, gitea, forgejo, gogs, azureDevops, generic].map((p) => [
    p.name,
    p,
  ]),
);

export const PROVIDER_NAMES: readonly string[] = [...WEBHOOK_PROVIDERS.keys()];

export type { WebhookProvider } from './provider.ts';
