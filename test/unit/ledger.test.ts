import { describe, expect, it } from 'vitest';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import type { DeploymentUpdate } from '../../shared/ports/index.ts';

const update = (over: Partial<DeploymentUpdate>): DeploymentUpdate => ({
  app: 'web',
  target: 'prod',
  repo: 'acme/fleet',
  branch: 'main',
  commit: 'a'.repeat(40),
  generation: 1,
  digest: `sha256:${'1'.repeat(64)}`,
  bundleKey: `bundles/${'1'.repeat(64)}.json`,
  traceId: 'trace-0001',
  state: 'Pending',
  at: '2026-11-22T00:00:00.000Z',
  ...over,
});

describe('FileLedger', () => {
  it('never moves a target back to an older generation', async () => {
    // GIVEN generation 2 Healthy
    const ledger = new FileLedger();
    await ledger.recordDeployment(update({ generation: 2, commit: 'b'.repeat(40), state: 'Healthy' }));
    // WHEN a late generation-1 outcome arrives
    const after = await ledger.recordDeployment(update({ generation: 1, state: 'Healthy' }));
    // THEN the record still shows generation 2
    expect(after.commit).toBe('b'.repeat(40));
    expect(after.generation).toBe(2);
  });

  it('keeps the last known good when a newer release fails, and ignores a late Pending', async () => {
    const ledger = new FileLedger();
    await ledger.recordDeployment(update({ generation: 1, state: 'Healthy' }));
    await ledger.recordDeployment(
      update({ generation: 2, commit: 'c'.repeat(40), state: 'Failed', reason: 'boom' }),
    );
    const record = await ledger.recordDeployment(
      update({ generation: 2, commit: 'c'.repeat(40), state: 'Pending' }),
    );
    expect(record.state).toBe('Failed');
    expect(record.lastKnownGood?.commit).toBe('a'.repeat(40));
    expect(record.history.map((h) => h.state)).toEqual(['Healthy', 'Failed']);
  });

  it('lets exactly one of two concurrent branch writers win', async () => {
    const ledger = new FileLedger();
    const write = (commit: string) =>
      ledger.putBranch(
        { repo: 'r', branch: 'main', lastPlanned: commit, generation: 1, plannedAt: 'now' },
        0,
      );
    const results = await Promise.allSettled([write('a'.repeat(40)), write('b'.repeat(40))]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({
      reason: { code: 'CONFLICT', retryable: true },
    });
  });
});
