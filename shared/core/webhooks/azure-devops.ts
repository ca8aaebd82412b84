/**
 * Azure DevOps service hooks ("Web Hooks" consumer, event "Code pushed", `git.push`). Azure DevOps
 * cannot sign a body; the hook is configured with basic authentication and Sluice checks the
 * password (any user name) in constant time, so the endpoint must be HTTPS. The delivery id is the
 * event's `id`; the repository is named `<project>/<repository>`.
 */
import { z } from 'zod';
import {
  bodyDeliveryId,
  deliveryIdFrom,
  echo,
  isCleanHttpUrl,
  type RefUpdate,
  sha40,
  verifyToken,
} from './common.ts';
import { header, normaliseWith, pick, type WebhookProvider } from './provider.ts';

const name = z.string().regex(/^[^/\s][^/]{0,127}$/, 'must be a project or repository name');

/** Azure puts the organisation as a user name in remote URLs (`https://org@dev.azure.com/...`). */
const remoteUrl = z
  .string()
  .transform((value) => {
    if (!URL.canParse(value)) return value;
    const url = new URL(value);
    if (url.password === '') url.username = '';
    return url.toString();
  })
  .refine(isCleanHttpUrl, { message: 'must be an http(s) clone URL without credentials' });

export const azurePushSchema = z.object({
  eventType: z.literal('git.push'),
  resource: z.object({
    refUpdates: z
      .array(z.object({ name: z.string().regex(/^refs\/\S+$/), oldObjectId: sha40, newObjectId: sha40 }))
      .min(1)
      .max(100),
    repository: z.object({ name, remoteUrl: remoteUrl.optional(), project: z.object({ name }) }),
    pushedBy: z.object({ displayName: z.string().optional(), uniqueName: z.string().optional() }).optional(),
    commits: z
      .array(z.object({ commitId: z.string(), comment: z.string() }))
      .max(1000)
      .optional(),
  }),
});
type AzurePush = z.infer<typeof azurePushSchema>;

const repoOf = (project: string, repository: string) => `${project}/${repository}`;

const toUpdates = (push: AzurePush): RefUpdate[] =>
  push.resource.refUpdates.map((update) => ({
    repo: repoOf(push.resource.repository.project.name, push.resource.repository.name),
    repoUrl: push.resource.repository.remoteUrl,
    ref: update.name,
    before: update.oldObjectId,
    after: update.newObjectId,
    forced: false,
    pusher: push.resource.pushedBy?.displayName,
    message: push.resource.commits?.find((c) => c.commitId === update.newObjectId)?.comment,
  }));

/** The password of a `Basic` authorization header, or undefined. */
export const basicPassword = (value: string | undefined): string | undefined => {
  const match = value === undefined ? undefined : /^Basic ([A-Za-z0-9+/=]{1,2048})$/i.exec(value.trim());
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : decoded.slice(colon + 1);
};

export const azureDevops: WebhookProvider = {
  name: 'azure-devops',
  mediaTypes: ['application/json'],
  credential: 'authorization (basic auth)',
  deliveryHeader: 'id (in the body)',
  hasCredential: (headers) => header(headers, 'authorization') !== undefined,
  verify: ({ secrets, headers }) => verifyToken(secrets, basicPassword(headers.authorization)),
  repoHint: (payload) => {
    const project = pick(payload, 'resource', 'repository', 'project', 'name');
    const repository = pick(payload, 'resource', 'repository', 'name');
    return typeof project === 'string' &&
      typeof repository === 'string' &&
      name.safeParse(project).success &&
      name.safeParse(repository).success
      ? repoOf(project, repository)
      : undefined;
  },
  classify: (_headers, payload) => {
    const event = pick(payload, 'eventType');
    if (typeof event !== 'string') return { kind: 'bad', message: 'the body has no eventType' };
    if (event === 'git.push') return { kind: 'push' };
    return { kind: 'ignored', reason: `event "${echo(event)}" is not handled; only git.push is deployed` };
  },
  deliveryId: (_headers, payload, body) => {
    const id = pick(payload, 'id');
    return (typeof id === 'string' ? deliveryIdFrom(id) : undefined) ?? bodyDeliveryId(body);
  },
  normalise: normaliseWith(azurePushSchema, toUpdates),
};
