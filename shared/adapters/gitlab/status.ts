/** GitLab commit statuses: `POST /projects/:id/statuses/:sha` (REST v4). */
import type { CommitState, GitProvider } from '../../ports/index.ts';
import { type GitlabClientOptions, type GitlabRequest, gitlabClient, projectId } from './client.ts';

/** GitLab's states are pending, running, success, failed, canceled (and skipped). */
const GITLAB_STATE: Record<CommitState, string> = {
  pending: 'pending',
  success: 'success',
  failure: 'failed',
  error: 'failed',
};

export interface GitlabStatusOptions extends GitlabClientOptions {
  readonly targetUrl?: (input: { repo: string; commit: string; context: string }) => string | undefined;
}

export class GitlabStatusProvider implements GitProvider {
  readonly #request: GitlabRequest;
  readonly #targetUrl: GitlabStatusOptions['targetUrl'];

  constructor(options: GitlabStatusOptions) {
    this.#request = gitlabClient(options);
    this.#targetUrl = options.targetUrl;
  }

  async setStatus(input: Parameters<GitProvider['setStatus']>[0]): Promise<void> {
    const url = input.url ?? this.#targetUrl?.(input);
    await this.#request(
      `GitLab commit status ${input.context} on ${input.repo}@${input.commit.slice(0, 7)}`,
      'POST',
      `/projects/${projectId(input.repo)}/statuses/${input.commit}`,
      {
        state: GITLAB_STATE[input.state],
        name: input.context,
        description: input.description.slice(0, 255),
        ...(url ? { target_url: url } : {}),
      },
    );
  }
}
