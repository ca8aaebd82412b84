/**
 * The deployment config's list of config repositories: which repos may deploy, from which clone
 * URL, and from which branches. It lives outside every repo (sluice.deploy.yaml → the ingest and
 * plan functions' SLUICE_REPOS; `sluice dev`'s flags), because a push must never decide what it
 * may deploy. sluice.yaml can narrow the branches (`branches:`), never widen them.
 */
import { z } from 'zod';

/** The branch every repo deploys when the deployment config names none. */
export const DEFAULT_DEPLOY_BRANCH = 'main';

/** Why `name` is not a usable branch name (git check-ref-format, plus no control characters), or undefined. */
export const unsafeBranchName = (name: string): string | undefined => {
  if (name.length === 0 || name.length > 255) return 'must be 1-255 characters';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(name))
    return 'must not contain spaces, control characters or ~^:?*[\\';
  if (name.startsWith('-') || name.startsWith('/') || name.endsWith('/') || name.endsWith('.')) {
    return 'must not start with "-" or "/", nor end with "/" or "."';
  }
  if (name.includes('..') || name.includes('//') || name.includes('@{') || name === '@') {
    return 'must not contain "..", "//" or "@{"';
  }
  if (name.split('/').some((part) => part.startsWith('.') || part.endsWith('.lock'))) {
    return 'no segment may start with "." or end with ".lock"';
  }
  return undefined;
};

export const branchName = z.string().superRefine((name, ctx) => {
  const problem = unsafeBranchName(name);
  if (problem) ctx.addIssue({ code: 'custom', message: `branch ${JSON.stringify(name)} ${problem}` });
});

/** Clone URLs end up in events and logs, so only plain http(s) URLs without credentials get through. */
export const isCleanHttpUrl = (value: string): boolean => {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (
    (url.protocol === 'https:' || url.protocol === 'http:') && url.username === '' && url.password === ''
  );
};
const cloneUrl = z.string().refine(isCleanHttpUrl, {
  message: 'must be an http(s) clone URL without credentials, e.g. https://github.com/acme/fleet.git',
});

export const deployRepoSchema = z.strictObject({
  /** The name webhooks and events use: `owner/name` (`group/sub/name` on GitLab, `PROJECT/slug` on Bitbucket DC). */
  name: z
    .string()
    .max(256)
    .regex(/^[^/\s]+(\/[^/\s]+)+$/, 'must be the repository path webhooks name, such as "acme/fleet"'),
  /** Where Sluice clones it; never taken from a webhook payload. */
  url: cloneUrl,
  /** Branches that may deploy. @default ['main'] */
  branches: z.array(branchName).min(1).max(50).optional(),
});

export const deployReposSchema = z.array(deployRepoSchema).max(1000);

export type DeployRepoInput = z.input<typeof deployRepoSchema>;
