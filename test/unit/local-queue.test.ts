import { describe, expect, it } from 'vitest';
import { LocalQueue } from '../../shared/adapters/local/queue.ts';

const clock = () => {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

describe('LocalQueue', () => {
  it('keeps FIFO order within a group and holds the group while a message is in flight', () => {
    // GIVEN two groups with two messages each
    const c = clock();
    const q = new LocalQueue({ name: 'plan.fifo', fifo: true, now: c.now });
    q.send([
      { body: 'a1', groupId: 'a', dedupId: '1' },
      { body: 'b1', groupId: 'b', dedupId: '2' },
      { body: 'a2', groupId: 'a', dedupId: '3' },
      { body: 'b2', groupId: 'b', dedupId: '4' },
    ]);
    // WHEN a consumer takes one message at a time without deleting
    const first = q.receive(1, 1000);
    const second = q.receive(1, 1000);
    const third = q.receive(10, 1000);
    // THEN it gets a1, then b1 (group a is held), then nothing more until one is deleted
    expect(first.map((m) => m.body)).toEqual(['a1']);
    expect(second.map((m) => m.body)).toEqual(['b1']);
    expect(third).toEqual([]);
    q.delete(first[0]!.receiptHandle!);
    expect(q.receive(10, 1000).map((m) => m.body)).toEqual(['a2']);
  });

  it('drops a FIFO duplicate within five minutes (content-based dedup)', () => {
    const c = clock();
    const q = new LocalQueue({ name: 'plan.fifo', fifo: true, contentBasedDeduplication: true, now: c.now });
    q.send([{ body: 'same', groupId: 'g' }]);
    q.send([{ body: 'same', groupId: 'g' }]);
    expect(q.depth).toBe(1);
    c.advance(5 * 60_000 + 1);
    q.send([{ body: 'same', groupId: 'g' }]);
    expect(q.depth).toBe(2);
  });

  it('redelivers after the visibility timeout and parks a message in the DLQ after maxReceiveCount', () => {
    // GIVEN a queue with a DLQ after 2 receives
    const c = clock();
    const dlq = new LocalQueue({ name: 'work-dlq', now: c.now });
    const q = new LocalQueue({ name: 'work', now: c.now, deadLetter: { queue: dlq, maxReceiveCount: 2 } });
    q.send([{ body: 'poison', attributes: { lastError: 'boom' } }]);
    // WHEN it is received and never deleted, twice
    expect(q.receive(1, 100)[0]?.receiveCount).toBe(1);
    expect(q.receive(1, 100)).toEqual([]);
    c.advance(101);
    expect(q.receive(1, 100)[0]?.receiveCount).toBe(2);
    c.advance(101);
    // THEN the next receive finds it parked, with why
    expect(q.receive(1, 100)).toEqual([]);
    expect(dlq.peek().map((m) => [m.body, m.attributes.deadLetterReason])).toEqual([['poison', 'boom']]);
    // AND a redrive brings it back
    expect(q.redriveFrom(dlq)).toBe(1);
    expect(q.receive(1, 100).map((m) => m.body)).toEqual(['poison']);
  });

  it('delays every message by the queue delay', () => {
    const c = clock();
    const q = new LocalQueue({ name: 'delayed', delayMs: 500, now: c.now });
    q.send([{ body: 'later' }]);
    expect(q.receive()).toEqual([]);
    expect(q.nextVisibleInMs()).toBe(500);
    c.advance(500);
    expect(q.receive().map((m) => m.body)).toEqual(['later']);
  });

  it('refuses a FIFO message without a group and a FIFO name on a standard queue', () => {
    const q = new LocalQueue({ name: 'x.fifo', fifo: true });
    expect(() => q.send([{ body: 'b' }])).toThrow(/needs a groupId/);
    expect(() => new LocalQueue({ name: 'y.fifo' })).toThrow(/must end in \.fifo/);
  });
});
