/**
 * A plan for a fleet bigger than one event carries (shared/core/release-parts.ts): the Release
 * Planned events it publishes each pass the bus's own check (schema and EventBridge's 256 KB), and
 * together hold every (spec, target) of the plan exactly once.
 */
import { describe, expect, it } from 'vitest';
import { validDetail } from '../../shared/adapters/event-detail.ts';
import { releaseParts } from '../../shared/core/release-parts.ts';
import type { ReleasePlanned } from '../../shared/schemas/events.ts';
import { sha } from './core-fixtures.ts';

const plan = (environments: number, targetsEach: number): ReleasePlanned => ({
  schemaVersion: 1,
  traceId: 'trace-0001',
  repo: 'acme/fleet',
  branch: 'main',
  commit: sha(1),
  occurredAt: '2026-01-01T00:00:00.000Z',
  repoUrl: 'https://git.example.com/acme/fleet.git',
  generation: 7,
  previousCommit: null,
  changedPaths: 1,
  releases: Array.from({ length: environments }, (_, e) => ({
    spec: {
      app: 'edge',
      path: 'apps/edge',
      environment: `env${e}`,
      overlay: `overlays/env${e}`,
      values: {},
      disabledPolicies: [],
      sync: { prune: true, selfHeal: false },
    },
    targets: Array.from({ length: targetsEach }, (_, t) => ({
      name: `edge-env${e}-${String(t).padStart(5, '0')}`,
      cloud: 'aws',
      region: 'eu-west-1',
      agent: 'lambda' as const,
    })),
  })),
});

/** Every (environment, target) pair of a list of events. */
const pairs = (events: readonly ReleasePlanned[]) =>
  events.flatMap((e) => e.releases.flatMap((r) => r.targets.map((t) => `${r.spec.environment}/${t.name}`)));

describe('releaseParts', () => {
  it('leaves a plan that fits in one event as it is', () => {
    const small = plan(3, 10);
    expect(releaseParts(small)).toEqual([small]);
  });

  it('splits 10,000 targets over 10 environments into events the bus accepts, each pair once', () => {
    // GIVEN a plan far over EventBridge's 256 KB entry limit
    const big = plan(10, 1_000);
    expect(() => validDetail({ detailType: 'Release Planned', detail: big })).toThrow(
      /over EventBridge's 262144-byte limit/,
    );

    // WHEN it is split
    const events = releaseParts(big);

    // THEN every event is accepted by the bus, keeps the plan's generation and commit, and the
    // events hold every (environment, target) of the plan exactly once
    expect(events.length).toBeGreaterThan(1);
    for (const event of events) {
      expect(() => validDetail({ detailType: 'Release Planned', detail: event })).not.toThrow();
      expect([event.generation, event.commit, event.traceId]).toEqual([7, sha(1), 'trace-0001']);
    }
    expect(pairs(events)).toEqual(pairs([big]));
  });

  it('splits one environment with more targets than an event holds into parts of the same spec', () => {
    // GIVEN one environment with 5,000 targets WHEN split
    const events = releaseParts(plan(1, 5_000));

    // THEN each part renders the same spec, and every target is in exactly one part
    expect(events.length).toBeGreaterThan(1);
    expect(new Set(events.flatMap((e) => e.releases.map((r) => JSON.stringify(r.spec)))).size).toBe(1);
    expect(pairs(events)).toEqual(pairs([plan(1, 5_000)]));
    for (const event of events) {
      expect(() => validDetail({ detailType: 'Release Planned', detail: event })).not.toThrow();
    }
  });
});
