/**
 * The sending side of a GitHub webhook, for `sluice dev`: when its local git server sees a push it
 * builds the same body GitHub would and delivers it signed, so ingest runs exactly as in production.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ZERO_SHA } from '../../core/webhooks/github.ts';
import { GITHUB_SIGNATURE_HEADER, signGithub } from '../../core/webhooks/signature.ts';
import { BadInputError, UnavailableError } from '../../errors.ts';

export interface GithubPushInput {
  /** Full name, e.g. `local/fleet`. */
  readonly repo: string;
  readonly cloneUrl: string;
  /** Full ref, e.g. `refs/heads/main`. */
  readonly ref: string;
  /** Old head; all zeros for a new ref. */
  readonly before: string;
  /** New head; all zeros for a deleted ref. */
  readonly after: string;
  readonly message?: string;
  /** @default 'sluice-dev' */
  readonly pusher?: string;
  /** Git's receive-pack knows; the caller passes it. @default false */
  readonly forced?: boolean;
  /** @default the current time */
  readonly timestamp?: Date;
}

/** A GitHub `push` event body with the fields GitHub sends that Sluice or a human would look at. */
export const githubPushPayload = (input: GithubPushInput): Record<string, unknown> => {
  const [owner, name, ...rest] = input.repo.split('/');
  if (!owner || !name || rest.length > 0) {
    throw new BadInputError('repo', `"${input.repo}" is not a full repository name`, 'pass "owner/name"');
  }
  const pusher = input.pusher ?? 'sluice-dev';
  const created = input.before === ZERO_SHA;
  const deleted = input.after === ZERO_SHA;
  const htmlUrl = input.cloneUrl.replace(/\.git$/, '');
  const person = { name: pusher, email: `${pusher}@localhost`, username: pusher };
  const headCommit = deleted
    ? null
    : {
        id: input.after,
        tree_id: null,
        distinct: true,
        message: input.message ?? '',
        timestamp: (input.timestamp ?? new Date()).toISOString(),
        url: `${htmlUrl}/commit/${input.after}`,
        author: person,
        committer: person,
        added: [],
        removed: [],
        modified: [],
      };
  return {
    ref: input.ref,
    before: input.before,
    after: input.after,
    created,
    deleted,
    forced: input.forced ?? false,
    base_ref: null,
    compare: `${htmlUrl}/compare/${input.before.slice(0, 12)}...${input.after.slice(0, 12)}`,
    commits: headCommit === null ? [] : [headCommit],
    head_commit: headCommit,
    repository: {
      name,
      full_name: input.repo,
      private: true,
      owner: { name: owner, login: owner },
      html_url: htmlUrl,
      clone_url: input.cloneUrl,
      default_branch: 'main',
      master_branch: 'main',
    },
    pusher: { name: pusher, email: person.email },
    sender: { login: pusher, type: 'User' },
  };
};

export interface SendWebhookInput {
  /** The full endpoint, e.g. `http://127.0.0.1:8080/webhooks/github`. */
  readonly url: string;
  readonly secret: string;
  readonly event: 'push' | 'ping';
  /** @default a random UUID, as GitHub sends */
  readonly deliveryId?: string;
  readonly payload: unknown;
}

const ATTEMPTS = 3;
const BACKOFF_MS = [100, 400];
/** GitHub gives up on a delivery after 10 seconds; so do we. */
const ATTEMPT_TIMEOUT_MS = 10_000;

/**
 * Delivers one webhook the way GitHub does, retrying connection errors and 5xx answers up to three
 * attempts with the same delivery id. Any 2xx-4xx answer is returned as is; after the last failed
 * attempt a 5xx is returned and a connection error throws UNAVAILABLE.
 */
export const sendWebhook = async (input: SendWebhookInput): Promise<{ status: number; body: unknown }> => {
  const body = Buffer.from(JSON.stringify(input.payload));
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/sluice-dev',
    'x-github-event': input.event,
    'x-github-delivery': input.deliveryId ?? randomUUID(),
    [GITHUB_SIGNATURE_HEADER]: signGithub(input.secret, body),
  };
  let lastError: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const response = await fetch(input.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      const text = await response.text();
      const result = { status: response.status, body: parseBody(text) };
      if (response.status < 500 || attempt === ATTEMPTS) return result;
    } catch (error) {
      lastError = error;
    }
    await sleep(BACKOFF_MS[attempt - 1] ?? 0);
  }
  throw new UnavailableError(`webhook endpoint ${input.url}`, lastError, { attempts: ATTEMPTS });
};

const parseBody = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

const run = promisify(execFile);

/** Sends every push to the local git server to `webhookUrl` as GitHub would: a signed push event. */
export const pushNotifier =
  (options: {
    reposDir: string;
    /** `http://127.0.0.1:PORT` of the git server, known once it listens. */
    gitBase: () => string;
    webhookUrl: string;
    /** The secret a repo's deliveries are signed with (`local/<repo>`), as its provider holds it. */
    secretFor: (repo: string) => Promise<string>;
    print: (line: string) => void;
  }) =>
  async (repo: string, ref: string, before: string, after: string): Promise<void> => {
    const { reposDir, webhookUrl, print } = options;
    const gitDir = path.join(reposDir, `${repo}.git`);
    const [author = 'sluice-dev', message = ''] =
      after === ZERO_SHA
        ? []
        : (await run('git', ['--git-dir', gitDir, 'log', '-1', '--format=%an%x00%s', after])).stdout
            .trim()
            .split('\0');
    const forced =
      before !== ZERO_SHA &&
      after !== ZERO_SHA &&
      !(await run('git', ['--git-dir', gitDir, 'merge-base', '--is-ancestor', before, after]).then(
        () => true,
        () => false,
      ));
    const payload = githubPushPayload({
      repo: `local/${repo}`,
      cloneUrl: `${options.gitBase()}/${repo}.git`,
      ref,
      before,
      after,
      message,
      pusher: author,
      forced,
    });
    const secret = await options.secretFor(`local/${repo}`);
    const answer = await sendWebhook({ url: webhookUrl, secret, event: 'push', payload });
    if (answer.status >= 300) print(`webhook   ${ref} ${after.slice(0, 7)} answered ${answer.status}`);
  };
