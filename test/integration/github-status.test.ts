import { afterEach, describe, expect, it } from 'vitest';
import { GithubStatusProvider } from '../../shared/adapters/github/status.ts';
import { type FakeGithub, startFakeGithub } from './github-openapi.ts';

const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';

describe('GithubStatusProvider (against a server checking GitHub OpenAPI)', () => {
  let github: FakeGithub | undefined;
  afterEach(async () => {
    await github?.close();
  });

  it('creates a commit status that fits the published API, with the token and the link', async () => {
    // GIVEN a GitHub that answers 201 as documented
    github = await startFakeGithub(() => ({ status: 201, body: { id: 1, state: 'success' } }));
    const provider = new GithubStatusProvider({
      token: 'ghp_test-token',
      baseUrl: github.url,
      targetUrl: ({ commit }) => `https://sluice.example.com/trace/${commit}`,
    });
    // WHEN a status is set
    await provider.setStatus({
      repo: 'Codertocat/Hello-World',
      commit: SHA,
      context: 'sluice/web@prod-use1',
      state: 'failure',
      description: 'Policy rejected: 1 violation(s): no-privileged on DaemonSet/x',
    });
    // THEN one request matched the statuses operation, its body fits the schema, and it carried the token
    expect(github.violations).toEqual([]);
    expect(github.requests).toMatchObject([
      {
        method: 'POST',
        template: '/repos/{owner}/{repo}/statuses/{sha}',
        path: `/repos/Codertocat/Hello-World/statuses/${SHA}`,
        body: {
          state: 'failure',
          context: 'sluice/web@prod-use1',
          target_url: `https://sluice.example.com/trace/${SHA}`,
        },
        authorization: 'token ghp_test-token',
      },
    ]);
  });

  it('translates 404 to NOT_FOUND, 401 to a non-retryable refusal and 503 to a retryable UNAVAILABLE, without the token', async () => {
    // GIVEN a GitHub that answers each of those in turn
    const answers = [404, 401, 503];
    github = await startFakeGithub(() => ({
      status: answers.shift() ?? 500,
      body: { message: 'Bad credentials' },
    }));
    const provider = new GithubStatusProvider({ token: 'ghp_secret-token', baseUrl: github.url });
    const input = {
      repo: 'a/b',
      commit: SHA,
      context: 'sluice/x@y',
      state: 'pending' as const,
      description: 'Planned',
    };
    // WHEN three statuses are set
    const errors = [];
    for (let i = 0; i < 3; i++) errors.push(await provider.setStatus(input).catch((e: unknown) => e));
    // THEN each maps to its domain error and none mentions the token
    expect(
      errors.map((e) => [(e as { code: string }).code, (e as { retryable: boolean }).retryable]),
    ).toEqual([
      ['NOT_FOUND', false],
      ['PROVIDER_REJECTED', false],
      ['UNAVAILABLE', true],
    ]);
    expect(
      JSON.stringify(errors.map((e) => [(e as Error).message, (e as { data: unknown }).data])),
    ).not.toContain('ghp_secret');
  });
});
