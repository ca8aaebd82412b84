/**
 * What `sluice status` and `sluice trace` rely on from every record of events (the workdir's
 * events.jsonl in `sluice dev`, S3 objects per trace on AWS): a commit's whole trace, oldest
 * first, and per (app, target) the newest planned commit with the outcome that stopped it —
 * whatever order at-least-once delivery recorded the events in.
 */
import { describe, expect, it } from 'vitest';
import type { History } from '../../shared/ports/index.ts';
import type { Envelope } from '../../shared/schemas/events.ts';

export interface HistoryFixture {
  /** Records events as the host's recorder does (bus log line, or the record function). */
  readonly record: (events: readonly Envelope[]) => Promise<void>;
  readonly history: History;
}

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
const envelope = (n: number, type: string, detail: Record<string, unknown>): Envelope => ({
  version: '0',
  id: `event-${n}`,
  'detail-type': type,
  source: 'sluice',
  time: at(n),
  resources: [],
  detail: { schemaVersion: 1, repo: 'acme/fleet', branch: 'main', occurredAt: at(n), ...detail },
});
const spec = {
  app: 'web',
  path: 'apps/web',
  values: {},
  disabledPolicies: [],
  sync: { prune: true, selfHeal: false },
};
const target = { name: 'prod', cloud: 'aws', region: 'us-east-1', agent: 'lambda' };
const planned = (n: number, commit: string, traceId: string, generation: number) =>
  envelope(n, 'Release Planned', { commit, traceId, generation, releases: [{ spec, targets: [target] }] });
const rejected = (n: number, commit: string, traceId: string, generation: number) =>
  envelope(n, 'Policy Rejected', {
    commit,
    traceId,
    generation,
    app: 'web',
    targets: ['prod'],
    violations: [
      {
        policy: 'no-latest-tag',
        object: 'Deployment/web',
        file: 'apps/web/d.yaml',
        message: 'image uses :latest',
        fix: 'pin a tag',
      },
    ],
  });

export const describeHistoryContract = (name: string, make: () => Promise<HistoryFixture>) => {
  describe(`History contract: ${name}`, () => {
    it("gives a commit's whole trace, oldest first, and no other trace", async () => {
      // GIVEN two pushes' traces recorded interleaved and out of order
      const { record, history } = await make();
      const [one, two] = ['a1'.repeat(20), 'b2'.repeat(20)];
      await record([
        rejected(3, one, 'trace-1', 1),
        planned(2, two, 'trace-2', 2),
        planned(1, one, 'trace-1', 1),
      ]);
      // WHEN the first commit is traced by a prefix of its sha
      const trace = await history.traceOf(one.slice(0, 12));
      // THEN its trace comes back in time order, without the other push
      expect(trace.map((e) => e['detail-type'])).toEqual(['Release Planned', 'Policy Rejected']);
      expect(await history.traceOf('c3'.repeat(20))).toEqual([]);
    });

    it('shows per (app, target) the newest planned commit and the outcome that stopped it', async () => {
      // GIVEN an older commit planned, then a newer one planned and rejected by policy (the
      // rejection recorded before its plan, as redelivery may order them)
      const { record, history } = await make();
      const [older, newer] = ['d4'.repeat(20), 'e5'.repeat(20)];
      await record([
        planned(1, older, 'trace-o', 1),
        rejected(5, newer, 'trace-n', 2),
        planned(4, newer, 'trace-n', 2),
      ]);
      // WHEN status asks for the newest
      const { targets } = await history.newest();
      // THEN web@prod shows the newer commit, rejected, with the policy's reason
      const web = targets.find((t) => t.app === 'web' && t.target === 'prod');
      expect(web).toMatchObject({ commit: newer, generation: 2, outcome: 'Policy Rejected' });
      expect(web?.reason).toMatch(/no-latest-tag|latest/);
    });
  });
};
