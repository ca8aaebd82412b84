import { afterEach, describe, expect, it } from 'vitest';
import { GitlabStatusProvider } from '../../shared/adapters/gitlab/status.ts';
import { type SpecServer, startSpecServer } from '../fixtures/api/spec-server.ts';

const SHA = 'b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327';

describe("GitlabStatusProvider (against a server checking GitLab's statuses API)", () => {
  let gitlab: SpecServer | undefined;
  afterEach(async () => {
    await gitlab?.close();
  });

  it('posts one commit status per context with the mapped state, the link and the token', async () => {
    // GIVEN a GitLab that answers 201 as documented
    gitlab = await startSpecServer('gitlab-v4', () => ({ status: 201, body: { id: 93, status: 'failed' } }));
    const provider = new GitlabStatusProvider({
      token: 'glpat-test-token',
      baseUrl: gitlab.origin,
      targetUrl: ({ commit }) => `https://sluice.example.com/trace/${commit}`,
    });
    // WHEN a pending and a failed status are set on a project in a subgroup
    for (const state of ['pending', 'failure'] as const) {
      await provider.setStatus({
        repo: 'group/sub/fleet',
        commit: SHA,
        context: 'sluice/web@prod-use1',
        state,
        description: `${'x'.repeat(300)}`,
      });
    }
    // THEN both fit the published operation, name the URL-encoded project, and carry the token
    expect(gitlab.violations).toEqual([]);
    expect(gitlab.requests.map((r) => [r.operationId, r.params.id, r.params.sha])).toEqual([
      ['postApiV4ProjectsIdStatusesSha', 'group/sub/fleet', SHA],
      ['postApiV4ProjectsIdStatusesSha', 'group/sub/fleet', SHA],
    ]);
    expect(gitlab.requests[0]?.path).toBe(`/projects/group%2Fsub%2Ffleet/statuses/${SHA}`);
    expect(gitlab.requests.map((r) => r.body)).toMatchObject([
      {
        state: 'pending',
        name: 'sluice/web@prod-use1',
        target_url: `https://sluice.example.com/trace/${SHA}`,
      },
      { state: 'failed', name: 'sluice/web@prod-use1' },
    ]);
    expect((gitlab.requests[0]?.body as { description?: string } | undefined)?.description).toHaveLength(255);
    expect(gitlab.requests[0]?.headers['private-token']).toBe('glpat-test-token');
  });

  it('translates 404, 403 and 502 into NOT_FOUND, a refusal and a retryable UNAVAILABLE, without the token', async () => {
    // GIVEN a GitLab that answers each of those in turn, with its own error bodies
    const answers = [
      { status: 404, body: { message: '404 Project Not Found' } },
      { status: 403, body: { message: '403 Forbidden' } },
      { status: 502, body: { message: 'Bad Gateway' } },
    ];
    gitlab = await startSpecServer('gitlab-v4', () => answers.shift() ?? { status: 500 });
    const provider = new GitlabStatusProvider({ token: 'glpat-secret-token', baseUrl: gitlab.origin });
    // WHEN three statuses are set
    const errors: { code: string; retryable: boolean; message: string; data: unknown }[] = [];
    for (let i = 0; i < 3; i++) {
      await provider
        .setStatus({
          repo: 'a/b',
          commit: SHA,
          context: 'sluice/x@y',
          state: 'success',
          description: 'Healthy',
        })
        .catch((e: (typeof errors)[number]) => errors.push(e));
    }
    // THEN each maps to its domain error, and none mentions the token
    expect(errors.map((e) => [e.code, e.retryable])).toEqual([
      ['NOT_FOUND', false],
      ['PROVIDER_REJECTED', false],
      ['UNAVAILABLE', true],
    ]);
    expect(errors[1]?.message).toContain('403 Forbidden');
    expect(JSON.stringify(errors.map((e) => [e.message, e.data]))).not.toContain('glpat-secret');
  });
});
