/**
 * How SendMessageBatch and PutEvents calls are cut (shared/adapters/aws/batches.ts): by count and by
 * total size, in order, so a chunk's 10 hand-offs or 12 chunk messages never make a call SQS or
 * EventBridge refuses for its size.
 */
import { describe, expect, it } from 'vitest';
import { batchesOf } from '../../shared/adapters/aws/batches.ts';

const limits = { maxItems: 10, maxBytes: 200 * 1024, size: (item: string) => item.length };

describe('batchesOf', () => {
  it('cuts 25 small items into calls of 10, 10 and 5, in order', () => {
    const items = Array.from({ length: 25 }, (_, i) => `item-${i}`);
    const batches = batchesOf(items, limits);
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat()).toEqual(items);
  });

  it('cuts 12 items of 30 KB so that no call holds more than 200 KB', () => {
    const items = Array.from({ length: 12 }, (_, i) => String(i).padEnd(30 * 1024, '.'));
    const batches = batchesOf(items, limits);
    expect(batches.map((b) => b.length)).toEqual([6, 6]);
    expect(batches.every((b) => b.reduce((n, item) => n + item.length, 0) <= 200 * 1024)).toBe(true);
    expect(batches.flat()).toEqual(items);
  });

  it('sends an item bigger than the limit alone, for the service to name it', () => {
    const big = 'x'.repeat(300 * 1024);
    expect(batchesOf(['a', big, 'b'], limits)).toEqual([['a'], [big], ['b']]);
  });
});
