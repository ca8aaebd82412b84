import { createHash, randomUUID } from 'node:crypto';

/**
 * An in-process queue with the SQS semantics the pipeline relies on: FIFO message groups
 * (one in-flight message per group, order kept), 5-minute deduplication, batches, visibility
 * timeout with redelivery, ApproximateReceiveCount, queue-level delay, and a redrive policy
 * that parks a message in a dead-letter queue after maxReceiveCount receives.
 */
export interface LocalQueueOptions {
  readonly name: string;
  readonly fifo?: boolean;
  /** FIFO only: deduplicate by a hash of the body when no dedup id is given. */
  readonly contentBasedDeduplication?: boolean;
  /** Every message becomes visible this long after it is sent. */
  readonly delayMs?: number;
  readonly visibilityTimeoutMs?: number;
  readonly deadLetter?: { readonly queue: LocalQueue; readonly maxReceiveCount: number };
  readonly now?: () => number;
}

export interface QueueMessage {
  readonly messageId: string;
  readonly body: string;
  readonly groupId?: string;
  readonly dedupId?: string;
  readonly sentAt: number;
  receiveCount: number;
  visibleAt: number;
  receiptHandle?: string;
  /** Why the message was parked, when it sits in a dead-letter queue. */
  deadLetterReason?: string;
  attributes: Record<string, string>;
}

export interface SendInput {
  readonly body: string;
  readonly groupId?: string;
  readonly dedupId?: string;
  readonly attributes?: Record<string, string>;
}

const DEDUP_WINDOW_MS = 5 * 60_000;

export class LocalQueue {
  readonly name: string;
  readonly fifo: boolean;
  private readonly options: LocalQueueOptions;
  private readonly messages: QueueMessage[] = [];
  private readonly dedup = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private readonly now: () => number;

  constructor(options: LocalQueueOptions) {
    this.options = options;
    this.name = options.name;
    this.fifo = options.fifo ?? false;
    this.now = options.now ?? Date.now;
    if (this.fifo !== this.name.endsWith('.fifo')) {
      throw new Error(
        `queue "${this.name}": a FIFO queue's name must end in .fifo, and only a FIFO queue's may`,
      );
    }
  }

  send(inputs: readonly SendInput[]): string[] {
    const now = this.now();
    const ids: string[] = [];
    for (const input of inputs) {
      if (this.fifo && !input.groupId) {
        throw new Error(`queue "${this.name}": a FIFO message needs a groupId`);
      }
      const dedupId =
        input.dedupId ??
        (this.fifo && this.options.contentBasedDeduplication
          ? createHash('sha256').update(input.body).digest('hex')
          : undefined);
      if (this.fifo && dedupId) {
        const seen = this.dedup.get(dedupId);
        if (seen !== undefined && now - seen < DEDUP_WINDOW_MS) continue;
        this.dedup.set(dedupId, now);
      }
      const message: QueueMessage = {
        messageId: randomUUID(),
        body: input.body,
        ...(input.groupId === undefined ? {} : { groupId: input.groupId }),
        ...(dedupId === undefined ? {} : { dedupId }),
        sentAt: now,
        receiveCount: 0,
        visibleAt: now + (this.options.delayMs ?? 0),
        attributes: { ...input.attributes },
      };
      this.messages.push(message);
      ids.push(message.messageId);
    }
    this.pruneDedup(now);
    this.wake();
    return ids;
  }

  /** Up to `max` visible messages; each becomes invisible for the visibility timeout. */
  receive(max = 10, visibilityTimeoutMs = this.options.visibilityTimeoutMs ?? 30_000): QueueMessage[] {
    const now = this.now();
    this.redrive(now);
    const out: QueueMessage[] = [];
    const blockedGroups = new Set<string>();
    for (const m of this.messages) {
      if (out.length >= max) break;
      const inFlight = m.receiptHandle !== undefined && m.visibleAt > now;
      if (this.fifo && m.groupId !== undefined) {
        if (blockedGroups.has(m.groupId)) continue;
        // A group with an earlier message in flight, delayed or failing holds the rest back: order is kept.
        if (inFlight || m.visibleAt > now) {
          blockedGroups.add(m.groupId);
          continue;
        }
      } else if (inFlight || m.visibleAt > now) {
        continue;
      }
      m.receiveCount += 1;
      m.receiptHandle = randomUUID();
      m.visibleAt = now + visibilityTimeoutMs;
      out.push(m);
    }
    return out;
  }

  delete(receiptHandle: string): boolean {
    const i = this.messages.findIndex((m) => m.receiptHandle === receiptHandle);
    if (i < 0) return false;
    this.messages.splice(i, 1);
    this.wake();
    return true;
  }

  /** Makes a received message visible again after `ms` (ChangeMessageVisibility). */
  changeVisibility(receiptHandle: string, ms: number): void {
    const m = this.messages.find((x) => x.receiptHandle === receiptHandle);
    if (m) m.visibleAt = this.now() + ms;
    this.wake();
  }

  /** Moves a message to the dead-letter queue at once, keeping why (for poison messages). */
  deadLetter(receiptHandle: string, reason: string): void {
    const i = this.messages.findIndex((m) => m.receiptHandle === receiptHandle);
    const m = this.messages[i];
    if (!m) return;
    this.messages.splice(i, 1);
    this.park(m, reason);
    this.wake();
  }

  /** Moves every message of the dead-letter queue back into this one (StartMessageMoveTask). */
  redriveFrom(dlq: LocalQueue): number {
    const parked = dlq.drain();
    this.send(parked.map((m) => ({ body: m.body, ...(m.groupId ? { groupId: m.groupId } : {}) })));
    return parked.length;
  }

  drain(): QueueMessage[] {
    return this.messages.splice(0, this.messages.length);
  }

  /** Messages waiting or in flight. */
  get depth(): number {
    return this.messages.length;
  }

  peek(): readonly QueueMessage[] {
    return this.messages;
  }

  /** Time until the next message becomes visible, or undefined when the queue is empty. */
  nextVisibleInMs(): number | undefined {
    if (this.messages.length === 0) return undefined;
    const now = this.now();
    return Math.max(0, Math.min(...this.messages.map((m) => m.visibleAt)) - now);
  }

  /** Resolves on the next send/delete/visibility change, or after `ms`. */
  waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private redrive(now: number): void {
    const dl = this.options.deadLetter;
    if (!dl) return;
    for (let i = this.messages.length - 1; i >= 0; i--) {
      const m = this.messages[i]!;
      if (m.receiveCount >= dl.maxReceiveCount && m.visibleAt <= now) {
        this.messages.splice(i, 1);
        this.park(m, m.attributes.lastError ?? `received ${m.receiveCount} times without success`);
      }
    }
  }

  private park(m: QueueMessage, reason: string): void {
    const dl = this.options.deadLetter;
    if (!dl) return;
    dl.queue.send([
      {
        body: m.body,
        ...(m.groupId ? { groupId: m.groupId } : {}),
        dedupId: m.messageId,
        attributes: { ...m.attributes, deadLetterReason: reason, sourceQueue: this.name },
      },
    ]);
  }

  private pruneDedup(now: number): void {
    if (this.dedup.size < 10_000) return;
    for (const [k, t] of this.dedup) if (now - t >= DEDUP_WINDOW_MS) this.dedup.delete(k);
  }
}
