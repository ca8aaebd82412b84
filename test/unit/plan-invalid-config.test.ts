import { describe, expect, it } from 'vitest';
import { planCommit } from '../../shared/core/plan.ts';
import type { CommitState, GitProvider } from '../../shared/ports/index.ts';
import type { CommitPushed } from '../../shared/schemas/events.ts';
import { inProcess, memoryGit, sha } from './core-fixtures.ts';

describe('planCommit with an invalid sluice.yaml', () => {
  it('sets a failure commit status naming the configuration error', async () => {
    // GIVEN a commit whose sluice.yaml lists no targets, and a provider recording statuses
    const { ledger, bus, clock, published } = await inProcess();
    const commit = sha(7);
    const git = {
      ...memoryGit({
        [commit]: {
          'sluice.yaml': 'apiVersion: sluice.dev/v1\nkind: Fleet\ntargets: []\napps:\n  - name: web\n',
        },
      }),
      head: async () => commit,
    };
    const statuses: { context: string; state: CommitState; description: string }[] = [];
    const provider: GitProvider = { setStatus: async (s) => void statuses.push(s) };
    const push: CommitPushed = {
      schemaVersion: 1,
      traceId: 'trace-invalid',
      repo: 'acme/fleet',
      branch: 'main',
      commit,
      occurredAt: clock.now().toISOString(),
      deliveryId: 'd-1',
      provider: 'github',
      repoUrl: 'https://git.example.com/acme/fleet.git',
      ref: 'refs/heads/main',
      before: '0'.repeat(40),
      forced: false,
      deleted: false,
      receivedAt: clock.now().toISOString(),
    };
    // WHEN it is planned
    const outcome = await planCommit({ git, ledger, bus, clock, provider }, push);
    // THEN nothing is planned, the skip says why, and the commit carries a failure on sluice/config
    expect(outcome.kind).toBe('skipped');
    expect(published('Release Skipped')[0]?.detail).toMatchObject({ reason: 'invalid-config' });
    expect(statuses).toEqual([
      expect.objectContaining({
        context: 'sluice/config',
        state: 'failure',
        description: expect.stringMatching(/^Invalid sluice.yaml: sluice.yaml:3 at targets/),
      }),
    ]);
  });
});
