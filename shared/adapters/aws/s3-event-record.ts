/**
 * The record of every event in S3, beside the ledger in the bundle bucket (docs/operate.md):
 *
 *   history/traces/<traceId>/<occurredAt>-<eventId>.json   the events of one trace in one batch
 *                                                           (an array; older objects hold one event)
 *   history/commits/<sha>/<traceId>                         empty: which traces name a commit
 *   history/fleet/<app>/<shard>.json                        newest planned commit + outcome per
 *                                                           target, SUMMARY_SHARDS objects per app
 *   history/targets/<app>/<target>.json                     the same, one per target (older records)
 *   history/branches/<repo>/<branch>.json                   newest commit of a branch + outcome
 *
 * Objects cost nothing while idle and a prefix listing answers "which traces touch abc1234"
 * without a scan. The two small summaries are read-modify-write under ETags, merged by the pure
 * rules in shared/core/history.ts, so a late or repeated event never moves them backwards.
 *
 * The record function takes its queue in batches (routing.ts RECORD_BATCH): the events of one
 * batch are recorded together — one object per trace, one merge per summary key — so a release's
 * two dozen events cost a handful of S3 writes rather than one per event and per target.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings } from '../../config/env.ts';
import {
  branchUpdate,
  commitsOf,
  eventTime,
  mergeBranch,
  mergePlanned,
  plannedKey,
  plannedUpdates,
  sortEvents,
  traceCommit,
} from '../../core/history.ts';
import type { BranchOutcome, EventRecorder, History, PlannedOutcome } from '../../ports/index.ts';
import type { Envelope } from '../../schemas/events.ts';
import { s3ClientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';
import { listKeys, readAllJson, updateJson } from './s3-objects.ts';

export interface S3EventRecordOptions {
  readonly bucket: string;
  /** @default 'history/' */
  readonly prefix?: string;
  readonly client?: S3Client;
  readonly aws?: AwsSettings;
  /** Traces read for one commit at most (a commit pushed to many branches, re-planned). @default 50 */
  readonly maxTraces?: number;
}

const part = (value: string): string => encodeURIComponent(value);
const MAX_MARKERS_REMEMBERED = 10_000;
/** S3 writes of one batch in flight at once. */
const WRITE_CONCURRENCY = 16;

/**
 * Per-target summaries live in a few objects per app: a release's outcomes for ten targets are a
 * few S3 writes, not ten, and `sluice status` reads a few objects per app, not one per target.
 */
const SUMMARY_SHARDS = 4;

/** The summary shard of a target: FNV-1a of its name. */
const shardOf = (target: string): number => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < target.length; i++) hash = Math.imul(hash ^ target.charCodeAt(i), 0x01000193) >>> 0;
  return hash % SUMMARY_SHARDS;
};

interface SummaryShard {
  readonly targets: Readonly<Record<string, PlannedOutcome>>;
}

/** A shard with a batch's outcomes merged in; the same object when none of them is newer. */
const mergeShard = (
  current: SummaryShard | undefined,
  updates: ReadonlyMap<string, PlannedOutcome>,
): SummaryShard => {
  const targets: Record<string, PlannedOutcome> = { ...current?.targets };
  let changed = current === undefined;
  for (const [target, update] of updates) {
    const merged = mergePlanned(targets[target], update);
    if (merged !== targets[target]) {
      targets[target] = merged;
      changed = true;
    }
  }
  return changed || !current ? { targets } : current;
};

const inBatches = async (tasks: readonly (() => Promise<void>)[], size: number): Promise<void> => {
  for (let i = 0; i < tasks.length; i += size) await Promise.all(tasks.slice(i, i + size).map((t) => t()));
};

export class S3EventRecord implements EventRecorder, History {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #maxTraces: number;
  /**
   * Commit markers this instance wrote: every event of a trace names the same commit, and the
   * marker is the same empty object each time, so a warm function writes it once, not once per
   * event (about 20 S3 PUTs fewer per release). Bounded; forgetting only costs a repeated PUT.
   */
  readonly #marked = new Set<string>();

  constructor(options: S3EventRecordOptions) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? 'history/';
    this.#client = options.client ?? new S3Client(s3ClientConfig(options.aws));
    this.#maxTraces = options.maxTraces ?? 50;
  }

  /** Events recorded in this batch so far, written together once the batch has handed them all over. */
  #pending: { envelope: Envelope; done: (error?: unknown) => void }[] = [];

  /**
   * Records one event. Calls made together (a batch's records run in parallel) are written
   * together: the promise settles when the batch's writes did, so a failure retries them all.
   */
  record(envelope: Envelope): Promise<void> {
    const traceId = (envelope.detail as { traceId?: unknown } | undefined)?.traceId;
    if (typeof traceId !== 'string' || traceId === '') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => void this.#flush());
      this.#pending.push({ envelope, done: (error) => (error === undefined ? resolve() : reject(error)) });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    try {
      await this.#write(batch.map((p) => p.envelope));
      for (const p of batch) p.done();
    } catch (error) {
      for (const p of batch) p.done(error ?? new Error('recording failed'));
    }
  }

  async #write(envelopes: readonly Envelope[]): Promise<void> {
    const byTrace = new Map<string, Envelope[]>();
    for (const e of sortEvents(envelopes)) {
      const trace = (e.detail as { traceId: string }).traceId;
      const events = byTrace.get(trace);
      if (events) events.push(e);
      else byTrace.set(trace, [e]);
    }
    /** Per summary shard: the newest outcome of each of its targets this batch says something about. */
    const planned = new Map<string, Map<string, PlannedOutcome>>();
    const branches = new Map<string, BranchOutcome>();
    const markers = new Set<string>();
    for (const e of envelopes) {
      const trace = part((e.detail as { traceId: string }).traceId);
      for (const sha of commitsOf(e)) markers.add(`${this.#prefix}commits/${part(sha)}/${trace}`);
      for (const update of plannedUpdates(e)) {
        const key = `${this.#prefix}fleet/${part(update.app)}/${shardOf(update.target)}.json`;
        const shard = planned.get(key) ?? new Map<string, PlannedOutcome>();
        planned.set(key, shard.set(update.target, mergePlanned(shard.get(update.target), update)));
      }
      const branch = branchUpdate(e);
      if (branch) {
        const key = `${this.#prefix}branches/${part(branch.repo)}/${part(branch.branch)}.json`;
        branches.set(key, mergeBranch(branches.get(key), branch));
      }
    }
    const writes: (() => Promise<void>)[] = [
      // One object per trace and batch, named by its first event: a retried batch writes the same key.
      ...[...byTrace].map(([trace, events]) => () => {
        const first = events[0]!;
        return this.#put(
          `${this.#prefix}traces/${part(trace)}/${eventTime(first)}-${part(first.id)}.json`,
          JSON.stringify(events),
        );
      }),
      ...[...markers]
        .filter((key) => !this.#marked.has(key))
        .map((key) => async () => {
          await this.#put(key, '');
          if (this.#marked.size >= MAX_MARKERS_REMEMBERED) this.#marked.clear();
          this.#marked.add(key);
        }),
      ...[...planned].map(
        ([key, updates]) =>
          () =>
            this.#merge(key, updates, mergeShard),
      ),
      ...[...branches].map(
        ([key, update]) =>
          () =>
            this.#merge(key, update, mergeBranch),
      ),
    ];
    await inBatches(writes, WRITE_CONCURRENCY);
  }

  async traceOf(sha: string): Promise<Envelope[]> {
    const markers = await this.#list(`${this.#prefix}commits/${part(sha)}`);
    const traces = [...new Set(markers.map((key) => key.split('/').at(-1) ?? ''))]
      .filter((t) => t !== '')
      .slice(0, this.#maxTraces);
    const keys = (
      await Promise.all(traces.map((trace) => this.#list(`${this.#prefix}traces/${trace}/`)))
    ).flat();
    // An object holds one event (older records) or a batch's events of the trace; a retried batch
    // may have written an event twice, under two keys: each event once, by its id.
    const events = new Map<string, Envelope>();
    for (const held of await this.#readAll<Envelope | Envelope[]>(keys)) {
      for (const e of Array.isArray(held) ? held : [held]) events.set(e.id, e);
    }
    return traceCommit([...events.values()], sha);
  }

  async newest(): Promise<{ targets: PlannedOutcome[]; branches: BranchOutcome[] }> {
    const [targetKeys, shardKeys, branchKeys] = await Promise.all([
      this.#list(`${this.#prefix}targets/`),
      this.#list(`${this.#prefix}fleet/`),
      this.#list(`${this.#prefix}branches/`),
    ]);
    const [perTarget, shards, branches] = await Promise.all([
      this.#readAll<PlannedOutcome>(targetKeys),
      this.#readAll<SummaryShard>(shardKeys),
      this.#readAll<BranchOutcome>(branchKeys),
    ]);
    // Older one-object-per-target summaries and the shards, the newer of the two per (app, target).
    const targets = new Map<string, PlannedOutcome>();
    for (const outcome of [...perTarget, ...shards.flatMap((s) => Object.values(s.targets))]) {
      const key = plannedKey(outcome);
      targets.set(key, mergePlanned(targets.get(key), outcome));
    }
    return { targets: [...targets.values()], branches };
  }

  async #put(key: string, body: string): Promise<void> {
    try {
      await this.#client.send(
        new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: body, ContentType: 'application/json' }),
      );
    } catch (error) {
      throw translateAwsError(error, `s3://${this.#bucket}/${key}`, { key });
    }
  }

  async #merge<T, U = T>(
    key: string,
    update: U,
    merge: (current: T | undefined, next: U) => T,
  ): Promise<void> {
    await updateJson<T>(this.#client, this.#bucket, key, (current) => merge(current, update));
  }

  #list(prefix: string): Promise<string[]> {
    return listKeys(this.#client, this.#bucket, prefix, `history in bucket ${this.#bucket}`);
  }

  #readAll<T>(keys: readonly string[]): Promise<T[]> {
    return readAllJson<T>(this.#client, this.#bucket, keys);
  }
}
