import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import type { AwsSettings } from '../../config/env.ts';
import { BadInputError, UnavailableError } from '../../errors.ts';
import type { EventBus } from '../../ports/index.ts';
import { EVENT_SOURCE, eventSchemas, type OutboundEvent } from '../../schemas/events.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

/** PutEvents accepts at most 10 entries per call. */
const BATCH = 10;
/** EventBridge rejects an entry over 256 KB (detail-type + detail + source + resources). */
const MAX_ENTRY_BYTES = 256 * 1024;

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
    for (let start = 0; start < entries.length; start += BATCH) {
      await this.#putWithRetries(entries.slice(start, start + BATCH));
    }
  }

  #toEntry(event: OutboundEvent): PutEventsRequestEntry {
    const schema = eventSchemas[event.detailType];
    if (schema === undefined) {
      throw new BadInputError(
        `event detail-type "${String(event.detailType)}"`,
        'is not a Sluice event',
        `use one of: ${Object.keys(eventSchemas).join(', ')}`,
      );
    }
    const parsed = schema.safeParse(event.detail);
    if (!parsed.success) {
      const issues = parsed.error.issues.map(
        (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
      );
      throw new BadInputError(
        `"${event.detailType}" event detail`,
        `does not match its schema (${issues.join('; ')})`,
        'build the detail with the fields shared/schemas/events.ts requires',
        { detailType: event.detailType, issues },
      );
    }
    const entry: PutEventsRequestEntry = {
      Source: EVENT_SOURCE,
      DetailType: event.detailType,
      Detail: JSON.stringify(parsed.data),
      EventBusName: this.#busName,
    };
    const size = Buffer.byteLength(`${entry.Source}${entry.DetailType}${entry.Detail}`);
    if (size > MAX_ENTRY_BYTES) {
      throw new BadInputError(
        `"${event.detailType}" event`,
        `is ${size} bytes, over EventBridge's ${MAX_ENTRY_BYTES}-byte limit`,
        'pass large payloads by reference (an S3 key and digest), not inline',
        { size },
      );
    }
    return entry;
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
