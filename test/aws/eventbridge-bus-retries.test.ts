/**
 * Partial PutEvents failures: neither LocalStack nor AWS can be made to fail chosen entries of
 * a batch on demand, so these tests use a scripted client (the only client fake in the suites).
 */
import type { EventBridgeClient, PutEventsCommand, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import { EventBridgeBus } from '../../shared/adapters/aws/eventbridge-bus.ts';
import { isSluiceError } from '../../shared/errors.ts';
import type { OutboundEvent } from '../../shared/schemas/events.ts';
import { sha } from './support.ts';

const skipped = (n: number): OutboundEvent => ({
  detailType: 'Release Skipped',
  detail: {
    schemaVersion: 1,
    traceId: `trace-${n}-0000`,
    repo: 'acme/fleet',
    branch: 'main',
    commit: sha(n + 1),
    occurredAt: '2026-01-01T00:00:00Z',
    reason: 'superseded',
    message: `event ${n}`,
  },
});

/** Fails the entries whose detail message is in `failing` for the first `times` calls that carry them. */
const scriptedClient = (failing: Set<string>, times: number) => {
  const calls: PutEventsRequestEntry[][] = [];
  const failures = new Map<string, number>();
  const client = {
    send: async (command: PutEventsCommand) => {
      const entries = command.input.Entries ?? [];
      calls.push(entries);
      const results = entries.map((entry) => {
        const id = JSON.parse(entry.Detail ?? '{}').message as string;
        const seen = failures.get(id) ?? 0;
        if (failing.has(id) && seen < times) {
          failures.set(id, seen + 1);
          return { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' };
        }
        return { EventId: `id-${id}` };
      });
      return { FailedEntryCount: results.filter((result) => result.ErrorCode).length, Entries: results };
    },
  } as unknown as EventBridgeClient;
  return { client, calls };
};

const noSleep = async () => {};

describe('EventBridgeBus retries', () => {
  it('re-sends only the entries that failed', async () => {
    // GIVEN a bus whose entries "event 3" and "event 12" fail once
    const { client, calls } = scriptedClient(new Set(['event 3', 'event 12']), 1);
    const bus = new EventBridgeBus({ busName: 'sluice', client, sleep: noSleep });

    // WHEN 15 events are published
    await bus.publish(Array.from({ length: 15 }, (_, n) => skipped(n)));

    // THEN batches of 10 and 5 were sent, each followed by a retry holding just its failed entry
    const messages = calls.map((entries) => entries.map((entry) => JSON.parse(entry.Detail!).message));
    expect(messages.map((batch) => batch.length)).toEqual([10, 1, 5, 1]);
    expect(messages[1]).toEqual(['event 3']);
    expect(messages[3]).toEqual(['event 12']);
    expect(calls.flat().every((entry) => entry.Source === 'sluice' && entry.EventBusName === 'sluice')).toBe(
      true,
    );
  });

  it('gives up after maxAttempts with a retryable UNAVAILABLE naming how many failed', async () => {
    // GIVEN a bus on which two entries always fail
    const { client, calls } = scriptedClient(new Set(['event 0', 'event 1']), Number.POSITIVE_INFINITY);
    const bus = new EventBridgeBus({ busName: 'sluice', client, maxAttempts: 3, sleep: noSleep });

    // WHEN three events are published
    const error = await bus.publish([skipped(0), skipped(1), skipped(2)]).catch((caught: unknown) => caught);

    // THEN three calls were made and the error says 2 of 3 failed
    expect(calls.map((entries) => entries.length)).toEqual([3, 2, 2]);
    expect(isSluiceError(error) && error.code).toBe('UNAVAILABLE');
    expect(isSluiceError(error) && error.retryable).toBe(true);
    expect((error as Error).message).toContain('2 of 3 events');
    expect(isSluiceError(error) && error.data.errorCodes).toEqual(['InternalFailure']);
  });
});
