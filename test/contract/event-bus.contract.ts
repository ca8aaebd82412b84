/**
 * What every stage relies on from every EventBus: a published event reaches the rules with source
 * `sluice`, its detail-type and its schema-checked detail; a bad event is refused with BAD_INPUT
 * before any event of its batch goes out (so a retry never publishes half a batch twice).
 */
import { describe, expect, it } from 'vitest';
import type { EventBus } from '../../shared/ports/index.ts';
import type { Envelope, OutboundEvent, ReleaseSkipped } from '../../shared/schemas/events.ts';
import { rejectionOf, sha } from './support.ts';

export interface EventBusFixture {
  readonly bus: EventBus;
  /**
   * The envelopes a rule matching every `sluice` event received, waiting until `count` arrived
   * or a bounded wait passed (then it returns what it has).
   */
  readonly received: (count: number) => Promise<Envelope[]>;
}

const skippedEvent = (n: number, overrides: Partial<ReleaseSkipped> = {}): OutboundEvent => ({
  detailType: 'Release Skipped',
  detail: {
    schemaVersion: 1,
    traceId: `trace-${n.toString().padStart(4, '0')}`,
    repo: 'acme/fleet',
    branch: 'main',
    commit: sha(n + 1),
    occurredAt: '2026-01-01T00:00:00.000Z',
    reason: 'no-app-changed',
    message: `push ${n} changed no app`,
    ...overrides,
  },
});

const byTrace = (envelopes: Envelope[]) =>
  envelopes
    .map((e) => ({ type: e['detail-type'], source: e.source, detail: e.detail as ReleaseSkipped }))
    .sort((a, b) => a.detail.traceId.localeCompare(b.detail.traceId));

export const describeEventBusContract = (name: string, make: () => Promise<EventBusFixture>) => {
  describe(`EventBus contract: ${name}`, () => {
    it('delivers each published event with source sluice, its detail-type and its detail', async () => {
      // GIVEN a bus with a rule for every sluice event
      const { bus, received } = await make();

      // WHEN two events are published
      await bus.publish([skippedEvent(1), skippedEvent(2, { reason: 'superseded', supersededBy: sha(9) })]);

      // THEN both arrive as published
      expect(byTrace(await received(2))).toEqual([
        { type: 'Release Skipped', source: 'sluice', detail: skippedEvent(1).detail },
        {
          type: 'Release Skipped',
          source: 'sluice',
          detail: skippedEvent(2, { reason: 'superseded', supersededBy: sha(9) }).detail,
        },
      ]);
    });

    it('delivers every event of a batch larger than one PutEvents call', async () => {
      // GIVEN a bus WHEN 23 events are published at once (EventBridge takes 10 per call)
      const { bus, received } = await make();
      const events = Array.from({ length: 23 }, (_, n) => skippedEvent(n));
      await bus.publish(events);

      // THEN all 23 arrive, each once
      const traces = (await received(23)).map((e) => (e.detail as ReleaseSkipped).traceId).sort();
      expect(traces).toEqual(events.map((e) => e.detail.traceId).sort());
    });

    it('refuses a batch holding an event that does not match its schema, publishing none of it', async () => {
      // GIVEN a batch whose second event has a short commit id
      const { bus, received } = await make();
      const bad = skippedEvent(2, { commit: 'abc123' });

      // WHEN it is published
      const outcome = await rejectionOf(bus.publish([skippedEvent(1), bad]));

      // THEN it is BAD_INPUT, naming the field; and a later good event is the only one that arrives
      expect(outcome).toMatchObject({ code: 'BAD_INPUT', retryable: false });
      expect(outcome !== 'resolved' && outcome.message).toContain('commit');
      await bus.publish([skippedEvent(3)]);
      expect((await received(2)).map((e) => (e.detail as ReleaseSkipped).traceId)).toEqual(['trace-0003']);
    });

    it('refuses an event over the 256 KB EventBridge limit with BAD_INPUT: bundles travel by reference', async () => {
      // GIVEN an event whose message carries 300 KB
      const { bus } = await make();
      const huge = skippedEvent(1, { message: 'x'.repeat(300 * 1024) });

      // WHEN it is published THEN it is refused before it leaves the process
      const outcome = await rejectionOf(bus.publish([huge]));
      expect(outcome).toMatchObject({ code: 'BAD_INPUT', retryable: false });
      expect(outcome !== 'resolved' && outcome.message).toContain('by reference');
    });

    it('refuses a detail-type that is not a Sluice event', async () => {
      // GIVEN a bus WHEN an unknown detail-type is published THEN it is BAD_INPUT naming the known ones
      const { bus } = await make();
      const unknown = {
        detailType: 'Deploy Please',
        detail: skippedEvent(1).detail,
      } as unknown as OutboundEvent;
      const outcome = await rejectionOf(bus.publish([unknown]));
      expect(outcome).toMatchObject({ code: 'BAD_INPUT' });
      expect(outcome !== 'resolved' && outcome.message).toContain('Commit Pushed');
    });
  });
};
