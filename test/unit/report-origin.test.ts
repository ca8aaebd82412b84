import { describe, expect, it } from 'vitest';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { checkOutcomeOrigin, ownersFromAgentQueues, recordOutcome } from '../../shared/core/report.ts';
import type { DeploymentSucceeded } from '../../shared/schemas/events.ts';

const OWNER = '222222222222';
const owners = ownersFromAgentQueues({
  targets: { 'prod-euw1': `https://sqs.eu-west-1.amazonaws.com/${OWNER}/sluice-agent-eu-west-1.fifo` },
  regions: { 'ap-south-1': 'https://sqs.ap-south-1.amazonaws.com/555555555555/sluice-agent-ap-south-1.fifo' },
});

const succeeded: DeploymentSucceeded = {
  schemaVersion: 1,
  traceId: 'trace-0001',
  repo: 'acme/fleet',
  branch: 'main',
  commit: 'a'.repeat(40),
  occurredAt: '2026-12-06T00:00:00.000Z',
  generation: 1,
  app: 'web',
  target: 'prod-euw1',
  digest: `sha256:${'1'.repeat(64)}`,
  applied: 1,
  unchanged: 0,
  pruned: 0,
  durationMs: 10,
};

const clock = { now: () => new Date('2026-12-06T00:00:00.000Z') };

describe('recordOutcome: who may report a target', () => {
  it('refuses an outcome whose envelope account does not own the target, and records nothing', async () => {
    // GIVEN prod-euw1 served by the regional stack in 222222222222
    const ledger = new FileLedger();
    // WHEN account 333333333333 reports it Healthy
    const attempt = recordOutcome(
      { ledger, clock, owners },
      { kind: 'succeeded', detail: succeeded },
      { account: '333333333333', region: 'eu-west-1' },
    );
    // THEN it is refused, naming the sender, the owner and the fix, and not retried
    await expect(attempt).rejects.toMatchObject({
      code: 'REJECTED',
      retryable: false,
      message: expect.stringMatching(/from account 333333333333 .*only account 222222222222 .*Fix:/),
    });
    // AND the ledger has no record for the target
    expect(await ledger.getDeployment('web', 'prod-euw1')).toBeUndefined();
  });

  it('records an outcome from the owning account', async () => {
    const ledger = new FileLedger();
    const record = await recordOutcome(
      { ledger, clock, owners },
      { kind: 'succeeded', detail: succeeded },
      { account: OWNER, region: 'eu-west-1' },
    );
    expect(record.state).toBe('Healthy');
  });

  it('refuses an outcome without an envelope account, and one for a target no stack serves', () => {
    expect(() => checkOutcomeOrigin(owners, 'prod-euw1', {})).toThrow(/account \(none\)/);
    expect(() => checkOutcomeOrigin(owners, 'ghost', { account: OWNER, region: 'eu-west-1' })).toThrow(
      /no regional stack serves "ghost".*Fix: add it to the targets/,
    );
  });

  it("gives a target no stack names to the only stack of the envelope's region", () => {
    expect(() =>
      checkOutcomeOrigin(owners, 'edge-1', { account: '555555555555', region: 'ap-south-1' }),
    ).not.toThrow();
    expect(() => checkOutcomeOrigin(owners, 'edge-1', { account: OWNER, region: 'ap-south-1' })).toThrow(
      /only account 555555555555/,
    );
  });

  it('accepts every outcome when no owners are configured (the in-process pipeline)', async () => {
    const record = await recordOutcome(
      { ledger: new FileLedger(), clock },
      { kind: 'succeeded', detail: succeeded },
    );
    expect(record.state).toBe('Healthy');
  });
});
