import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import type { AwsSettings } from '../../config/env.ts';
import { UnavailableError } from '../../errors.ts';
import type { EventBus } from '../../ports/index.ts';
import { EVENT_SOURCE, type OutboundEvent } from '../../schemas/events.ts';
import { validDetail } from '../event-detail.ts';
import { batchesOf } from './batches.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

/** PutEvents accepts at most 10 entries per call, and at most 256 KiB of entries in all. */
const BATCH = 10;
const BATCH_BYTES = 256 * 1024;

/** The size EventBridge counts for an entry: source, detail-type and detail (no time or resources here). */
const entrySize = (entry: PutEventsRequestEntry) =>
  Buffer.byteLength(entry.Source ?? '') +
  Buffer.byteLength(entry.DetailType ?? '') +
  Buffer.byteLength(entry.Detail ?? '');

export interface EventBridgeBusOptions {
  /** Name or ARN of the bus, e.g. `sluice`. */
  readonly busName: string;
  readonly client?: EventBridgeClient;
  /** Used to build a client when `client` is not given. */
  readonly aws?: AwsSettings;
  /** Attempts per batch, counting the first; only entries that failed are re-sent. @default 4 */
  readonly maxAttempts?: number;
  /** First back-off delay; doubles on each retry, with full jitter. @default 100 */
  readonly baseDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export class EventBridgeBus implements EventBus {
  readonly #client: EventBridgeClient;
  readonly #busName: string;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: EventBridgeBusOptions) {
    this.#busName = options.busName;
    this.#client = options.client ?? new EventBridgeClient(clientConfig(options.aws));
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.#baseDelayMs = options.baseDelayMs ?? 100;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async publish(events: readonly OutboundEvent[]): Promise<void> {
    // Validate everything first: a bad event must not leave half a batch published.
    const entries = events.map((event) => this.#toEntry(event));
    for (const batch of batchesOf(entries, { maxItems: BATCH, maxBytes: BATCH_BYTES, size: entrySize })) {
      await this.#putWithRetries(batch);
    }
  }

  #toEntry(event: OutboundEvent): PutEventsRequestEntry {
    return {
      Source: EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: JSON.stringify(validDetail(event)),
      EventBusName: this.#busName,
    };
  }

  async #putWithRetries(batch: PutEventsRequestEntry[]): Promise<void> {
    let pending = batch;
    let lastFailures: PutEventsResultEntry[] = [];
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      if (attempt > 1) {
        const cap = this.#baseDelayMs * 2 ** (attempt - 2);
        await this.#sleep(Math.round(cap / 2 + Math.random() * (cap / 2)));
      }
      let results: PutEventsResultEntry[];
      try {
        const output = await this.#client.send(new PutEventsCommand({ Entries: pending }));
        if (!output.FailedEntryCount) return;
        results = output.Entries ?? [];
      } catch (error) {
        throw translateAwsError(error, `EventBridge bus "${this.#busName}"`, { entries: pending.length });
      }
      // Results are positional: entry i of the response answers entry i of the request.
      const retry: PutEventsRequestEntry[] = [];
      lastFailures = [];
      pending.forEach((entry, index) => {
        const result = results[index];
        if (result === undefined || result.ErrorCode !== undefined || result.EventId === undefined) {
          retry.push(entry);
          if (result !== undefined) lastFailures.push(result);
        }
      });
      if (retry.length === 0) return;
      pending = retry;
    }
    const codes = [...new Set(lastFailures.map((failure) => failure.ErrorCode ?? 'unknown'))];
    throw new UnavailableError(
      `EventBridge bus "${this.#busName}" (${pending.length} of ${batch.length} events still failed after ${this.#maxAttempts} attempts: ${codes.join(', ')})`,
      undefined,
      {
        failed: pending.length,
        batch: batch.length,
        errorCodes: codes,
        detailTypes: pending.map((e) => e.DetailType),
      },
    );
  }
}
