import { describe, expect, it } from 'vitest';
import { foldHistory, statusRows, traceCommit } from '../../shared/core/history.ts';
import { trackedBranches } from '../../shared/core/reconcile.ts';
import type { DeploymentRecord } from '../../shared/ports/index.ts';
import type { Envelope } from '../../shared/schemas/events.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const DIGEST = `sha256:${'d'.repeat(64)}`;
const target = { name: 'prod', cloud: 'aws', region: 'us-east-1', agent: 'lambda' as const };
const spec = {
  app: 'web',
  path: 'apps/web',
  values: {},
  disabledPolicies: [],
  sync: { prune: true, selfHeal: false },
};

let seq = 0;
const event = (type: string, detail: Record<string, unknown>, at: string): Envelope => ({
  version: '0',
  id: `e${++seq}`,
  'detail-type': type,
  source: 'sluice',
  time: at,
  resources: [],
  detail: { schemaVersion: 1, repo: 'acme/fleet', branch: 'main', occurredAt: at, ...detail },
});

const planned = (commit: string, traceId: string, generation: number, at: string) =>
  event('Release Planned', { commit, traceId, generation, releases: [{ spec, targets: [target] }] }, at);

describe('foldHistory', () => {
  it('shows the newest planned commit with the policy rejection that stopped it', () => {
    // GIVEN A deployed Healthy, then B planned and rejected by policy
    const events = [
      planned(A, 'trace-aaaa', 1, '2026-01-01T00:00:01.000Z'),
      event(
        'Deployment Succeeded',
        {
          commit: A,
          traceId: 'trace-aaaa',
          generation: 1,
          app: 'web',
          target: 'prod',
          digest: DIGEST,
          applied: 1,
          unchanged: 0,
          pruned: 0,
          durationMs: 5,
        },
        '2026-01-01T00:00:02.000Z',
      ),
      planned(B, 'trace-bbbb', 2, '2026-01-01T00:00:03.000Z'),
      event(
        'Policy Rejected',
        {
          commit: B,
          traceId: 'trace-bbbb',
          generation: 2,
          app: 'web',
          targets: ['prod'],
          violations: [
            {
              policy: 'no-latest',
              object: 'Deployment/web',
              file: 'apps/web/d.yaml',
              message: 'image uses :latest',
              fix: 'pin it',
            },
          ],
        },
        '2026-01-01T00:00:04.000Z',
      ),
    ];
    // WHEN the record is folded, with the events delivered in reverse (SQS keeps no order)
    const { targets } = foldHistory([...events].reverse());
    // THEN web@prod's newest commit is B, rejected, with the violation as the reason
    expect(targets).toEqual([
      expect.objectContaining({ app: 'web', target: 'prod', commit: B, outcome: 'Policy Rejected' }),
    ]);
    expect(targets[0]?.reason).toContain('no-latest Deployment/web: image uses :latest');
  });

  it('keeps an invalid sluice.yaml as the branch outcome and lets a late older event change nothing', () => {
    // GIVEN C pushed with a broken sluice.yaml after B was planned
    const events = [
      planned(B, 'trace-bbbb', 2, '2026-01-01T00:00:03.000Z'),
      event(
        'Commit Pushed',
        { commit: C, traceId: 'trace-cccc', receivedAt: '2026-01-01T00:00:05.000Z', deleted: false },
        '2026-01-01T00:00:05.000Z',
      ),
      event(
        'Release Skipped',
        {
          commit: C,
          traceId: 'trace-cccc',
          reason: 'invalid-config',
          message: 'sluice.yaml at apps[0].path: required',
        },
        '2026-01-01T00:00:06.000Z',
      ),
      // AND an older generation's planned event arriving last
      planned(A, 'trace-aaaa', 1, '2026-01-01T00:00:01.000Z'),
    ];
    // WHEN folded
    const { targets, branches } = foldHistory(events);
    // THEN the branch says C has an invalid config, and web@prod still names B
    expect(branches).toEqual([
      expect.objectContaining({
        commit: C,
        outcome: 'Invalid Config',
        reason: 'sluice.yaml at apps[0].path: required',
      }),
    ]);
    expect(targets[0]).toMatchObject({ commit: B, generation: 2, outcome: 'Planned' });
  });
});

describe('statusRows', () => {
  it('pairs what is deployed with the newest planned commit, per (app, target)', () => {
    // GIVEN the ledger at A and the record's newest at B (render failed)
    const deployed = { app: 'web', target: 'prod', commit: A, state: 'Healthy' } as DeploymentRecord;
    const newest = {
      app: 'web',
      target: 'prod',
      repo: 'acme/fleet',
      branch: 'main',
      commit: B,
      traceId: 't',
      generation: 2,
      outcome: 'Render Failed',
      reason: 'kustomize: missing base',
      at: '2026-01-01T00:00:00.000Z',
    };
    // WHEN the rows are built, and filtered to another app
    const rows = statusRows([deployed], [newest]);
    // THEN one row holds both; a filter on another app holds none
    expect(rows).toEqual([{ app: 'web', target: 'prod', deployed, newest }]);
    expect(statusRows([deployed], [newest], { app: 'api' })).toEqual([]);
  });
});

describe('traceCommit', () => {
  it('finds a superseded push by the commit that superseded it, with its whole trace', () => {
    // GIVEN A superseded by B in trace-aaaa
    const events = [
      event(
        'Release Skipped',
        { commit: A, traceId: 'trace-aaaa', reason: 'superseded', supersededBy: B, message: 'newer' },
        '2026-01-01T00:00:02.000Z',
      ),
      event(
        'Commit Pushed',
        { commit: A, traceId: 'trace-aaaa', receivedAt: '2026-01-01T00:00:01.000Z' },
        '2026-01-01T00:00:01.000Z',
      ),
      planned(C, 'trace-cccc', 3, '2026-01-01T00:00:03.000Z'),
    ];
    // WHEN B's story is asked for
    const story = traceCommit(events, B.slice(0, 7));
    // THEN both events of trace-aaaa come back, oldest first, and nothing of C
    expect(story.map((e) => e['detail-type'])).toEqual(['Commit Pushed', 'Release Skipped']);
  });
});

describe('trackedBranches', () => {
  const deploy = [
    { repo: 'acme/fleet', repoUrl: 'https://git.example.com/acme/fleet.git', branch: 'main' },
    { repo: 'acme/other', repoUrl: 'https://git.example.com/acme/other.git', branch: 'main' },
  ];

  it('polls every configured deploy branch, or one repo’s for a throttled push', () => {
    // GIVEN two configured repos WHEN the tracked branches are listed, for all and for one repo
    const all = trackedBranches(deploy, []);
    const one = trackedBranches(deploy, [], 'acme/other');
    // THEN URLs come from configuration, and the filter keeps one repo
    expect(all).toEqual(deploy);
    expect(one.map((b) => b.repo)).toEqual(['acme/other']);
  });

  it('does not publish again a head whose sluice.yaml planning already refused', () => {
    // GIVEN main's newest commit C was refused for an invalid config
    const known = [{ repo: 'acme/fleet', branch: 'main', commit: C, outcome: 'Invalid Config' }];
    // WHEN the tracked branches are listed
    const [main] = trackedBranches(deploy, known);
    // THEN C is settled: reconcile skips it until a newer head appears
    expect(main?.settled).toBe(C);
  });
});
