import { describe, expect, it } from 'vitest';
import { githubPushPayload } from '../../shared/adapters/local/push-webhook.ts';
import {
  branchOfRef,
  githubPushSchema,
  normaliseGithubPush,
  truncateMessage,
  ZERO_SHA,
} from '../../shared/core/webhooks/github.ts';
import { signGithub, verifyGithub } from '../../shared/core/webhooks/signature.ts';
import { commitPushed } from '../../shared/schemas/events.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const body = new TextEncoder().encode('{"zen":"Keep it logically awesome."}');
const meta = { provider: 'github', deliveryId: 'd-1', traceId: 'trace-0001', receivedAt: new Date(0) };

describe('signGithub', () => {
  it('matches the example signature in GitHub’s webhook documentation', () => {
    // GIVEN GitHub's documented test vector  WHEN signed  THEN the digest is the one GitHub publishes
    const signature = signGithub("It's a Secret to Everybody", new TextEncoder().encode('Hello, World!'));
    expect(signature).toBe('sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17');
  });
});

describe('verifyGithub', () => {
  it('accepts the current and the previous secret during a rotation', () => {
    // GIVEN two configured secrets  WHEN each signs the body  THEN both verify
    expect(verifyGithub(['new', 'old'], signGithub('new', body), body)).toBe(true);
    expect(verifyGithub(['new', 'old'], signGithub('old', body), body)).toBe(true);
  });

  it('rejects another secret, a missing or malformed header, and an empty secret', () => {
    // GIVEN signatures that do not prove knowledge of a configured secret  THEN none verifies
    expect(verifyGithub(['new'], signGithub('other', body), body)).toBe(false);
    expect(verifyGithub(['new'], undefined, body)).toBe(false);
    expect(verifyGithub(['new'], 'sha1=abc', body)).toBe(false);
    expect(verifyGithub(['new'], `${signGithub('new', body)}00`, body)).toBe(false);
    expect(verifyGithub([''], signGithub('', body), body)).toBe(false);
  });
});

describe('normaliseGithubPush', () => {
  const push = (over: Partial<Parameters<typeof githubPushPayload>[0]> = {}) =>
    githubPushSchema.parse(
      githubPushPayload({
        repo: 'local/fleet',
        cloneUrl: 'http://127.0.0.1:9/fleet.git',
        ref: 'refs/heads/release/1.2',
        before: A,
        after: B,
        message: 'bump web',
        pusher: 'ana',
        ...over,
      }),
    );

  it('maps a branch push to a Commit Pushed detail that passes the event schema', () => {
    // GIVEN a push to a branch with a slash in its name  WHEN normalised
    const result = normaliseGithubPush(push(), meta);
    // THEN the branch keeps its slash, the commit is `after`, and the detail is valid
    expect(result.kind).toBe('commit');
    if (result.kind !== 'commit') return;
    expect(commitPushed.parse(result.detail)).toMatchObject({
      branch: 'release/1.2',
      commit: B,
      before: A,
      pusher: 'ana',
      message: 'bump web',
      deleted: false,
    });
  });

  it('publishes a branch deletion with the old head as its commit', () => {
    // GIVEN a deletion (after = zeros)  WHEN normalised  THEN commit = before and deleted is set
    const result = normaliseGithubPush(push({ after: ZERO_SHA }), meta);
    expect(result).toMatchObject({ kind: 'commit', detail: { commit: A, deleted: true } });
    if (result.kind === 'commit') expect(result.detail.message).toBeUndefined();
  });

  it('ignores tags and other refs with a reason', () => {
    expect(branchOfRef('refs/tags/v1')).toEqual({ ignored: expect.stringMatching(/tag pushes/) });
    expect(branchOfRef('refs/notes/commits')).toEqual({ ignored: expect.stringMatching(/refs\/heads/) });
  });

  it('cuts a long message to the event limit without splitting a surrogate pair', () => {
    // GIVEN a message of emoji longer than 2000 units  WHEN truncated
    const cut = truncateMessage('😀'.repeat(1500));
    // THEN it fits, ends with the marker, and holds only whole emoji
    expect(cut.length).toBeLessThanOrEqual(2000);
    expect(cut.endsWith('…')).toBe(true);
    expect(cut.slice(0, -1)).toMatch(/^(😀)+$/u);
  });

  it('rejects a clone URL that carries credentials', () => {
    const payload = githubPushPayload({
      repo: 'local/fleet',
      cloneUrl: 'https://user:token@example.com/fleet.git',
      ref: 'refs/heads/main',
      before: A,
      after: B,
    });
    const result = githubPushSchema.safeParse(payload);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['repository', 'clone_url']);
  });
});

describe('githubPushPayload', () => {
  it('computes created and deleted from zero ids', () => {
    const base = { repo: 'local/fleet', cloneUrl: 'http://127.0.0.1:9/fleet.git', ref: 'refs/heads/main' };
    expect(githubPushPayload({ ...base, before: ZERO_SHA, after: B })).toMatchObject({
      created: true,
      deleted: false,
    });
    expect(githubPushPayload({ ...base, before: A, after: ZERO_SHA })).toMatchObject({
      created: false,
      deleted: true,
      head_commit: null,
      commits: [],
    });
  });

  it('refuses a repo that is not owner/name', () => {
    expect(() =>
      githubPushPayload({
        repo: 'fleet',
        cloneUrl: 'http://x/f.git',
        ref: 'refs/heads/main',
        before: A,
        after: B,
      }),
    ).toThrow(/repo: "fleet" is not a full repository name\. Fix: pass "owner\/name"/);
  });
});
