import { describe, expect, it } from 'vitest';
import { type ReconcileDeps, reconcileBranches } from '../../shared/core/reconcile.ts';
import { UnavailableError } from '../../shared/errors.ts';
import type { BranchState, GitSource, Ledger } from '../../shared/ports/index.ts';
import { eventSchemas, type OutboundEvent } from '../../shared/schemas/events.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const NOW = new Date('2026-01-02T03:04:05.000Z');

// In-memory stand-ins: only head() and getBranch() are used by the core under test.
const setup = (heads: Record<string, string | undefined | Error>, planned: Record<string, string>) => {
  const published: OutboundEvent[] = [];
  const git = {
    head: async (url: string) => {
      const head = heads[url];
      if (head instanceof Error) throw head;
      return head;
    },
  } as unknown as GitSource;
  const ledger = {
    getBranch: async (repo: string, branch: string): Promise<BranchState | undefined> => {
      const last = planned[`${repo}#${branch}`];
      return last
        ? { repo, branch, lastPlanned: last, generation: 1, plannedAt: NOW.toISOString(), version: 1 }
        : undefined;
    },
  } as unknown as Ledger;
  let n = 0;
  const deps: ReconcileDeps = {
    git,
    ledger,
    bus: { publish: async (events) => void published.push(...events) },
    clock: { now: () => NOW },
    newTraceId: () => `trace-${String(++n).padStart(8, '0')}`,
  };
  return { deps, published };
};

const tracked = (name: string) => ({
  repo: `acme/${name}`,
  repoUrl: `https://git.example.com/acme/${name}.git`,
  branch: 'main',
});

describe('reconcileBranches', () => {
  it('publishes a Commit Pushed for a branch whose head moved past the last planned commit', async () => {
    // GIVEN a branch planned at A whose remote head is now B (the webhook for B was missed)
    const { deps, published } = setup(
      { 'https://git.example.com/acme/fleet.git': B },
      { 'acme/fleet#main': A },
    );
    // WHEN reconciliation runs
    const result = await reconcileBranches(deps, [tracked('fleet')]);
    // THEN one valid Commit Pushed from provider "reconcile" names B, with A as before
    expect(result.failed).toEqual([]);
    expect(published).toHaveLength(1);
    expect(eventSchemas['Commit Pushed'].parse(published[0]?.detail)).toMatchObject({
      repo: 'acme/fleet',
      branch: 'main',
      commit: B,
      before: A,
      provider: 'reconcile',
      deliveryId: `reconcile:acme/fleet#main@${B}`,
    });
  });

  it('publishes nothing for a branch already planned at its head, or one that is gone', async () => {
    const { deps, published } = setup(
      { 'https://git.example.com/acme/fleet.git': A, 'https://git.example.com/acme/gone.git': undefined },
      { 'acme/fleet#main': A },
    );
    const result = await reconcileBranches(deps, [tracked('fleet'), tracked('gone')]);
    expect(result).toEqual({ published: [], failed: [] });
    expect(published).toEqual([]);
  });

  it('publishes a never-planned branch with an all-zero before, and reports an unreachable remote without stopping', async () => {
    // GIVEN one remote that is down and one new repo
    const { deps, published } = setup(
      {
        'https://git.example.com/acme/down.git': new UnavailableError('git server'),
        'https://git.example.com/acme/new.git': B,
      },
      {},
    );
    // WHEN reconciliation runs over both
    const result = await reconcileBranches(deps, [tracked('down'), tracked('new')]);
    // THEN the failure is reported and the new repo is still published
    expect(result.failed).toEqual([
      { repo: 'acme/down', branch: 'main', error: 'git server is unavailable' },
    ]);
    expect(published.map((e) => (e.detail as { before: string }).before)).toEqual(['0'.repeat(40)]);
  });
});
