/**
 * The record of every event in S3, beside the ledger in the bundle bucket (docs/operate.md):
 *
 *   history/traces/<traceId>/<occurredAt>-<eventId>.json   the event, as the bus delivered it
 *   history/commits/<sha>/<traceId>                         empty: which traces name a commit
 *   history/targets/<app>/<target>.json                     newest planned commit + outcome
 *   history/branches/<repo>/<branch>.json                   newest commit of a branch + outcome
 *
 * Objects cost nothing while idle and a prefix listing answers "which traces touch abc1234"
 * without a scan. The two small summaries are read-modify-write under ETags, merged by the pure
 * rules in shared/core/history.ts, so a late or repeated event never moves them backwards.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings } from '../../config/env.ts';
import {
  branchUpdate,
  commitsOf,
  eventTime,
  mergeBranch,
  mergePlanned,
  plannedUpdates,
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

  async record(envelope: Envelope): Promise<void> {
    const traceId = (envelope.detail as { traceId?: unknown } | undefined)?.traceId;
    if (typeof traceId !== 'string' || traceId === '') return;
    const trace = part(traceId);
    await this.#put(
      `${this.#prefix}traces/${trace}/${eventTime(envelope)}-${part(envelope.id)}.json`,
      JSON.stringify(envelope),
    );
    await Promise.all(
      commitsOf(envelope)
        .map((sha) => `${this.#prefix}commits/${part(sha)}/${trace}`)
        .filter((key) => !this.#marked.has(key))
        .map(async (key) => {
          await this.#put(key, '');
          if (this.#marked.size >= MAX_MARKERS_REMEMBERED) this.#marked.clear();
          this.#marked.add(key);
        }),
    );
    for (const update of plannedUpdates(envelope)) {
      await this.#merge(
        `${this.#prefix}targets/${part(update.app)}/${part(update.target)}.json`,
        update,
        mergePlanned,
      );
    }
    const branch = branchUpdate(envelope);
    if (branch) {
      await this.#merge(
        `${this.#prefix}branches/${part(branch.repo)}/${part(branch.branch)}.json`,
        branch,
        mergeBranch,
      );
    }
  }

  async traceOf(sha: string): Promise<Envelope[]> {
    const markers = await this.#list(`${this.#prefix}commits/${part(sha)}`);
    const traces = [...new Set(markers.map((key) => key.split('/').at(-1) ?? ''))]
      .filter((t) => t !== '')
      .slice(0, this.#maxTraces);
    const keys = (
      await Promise.all(traces.map((trace) => this.#list(`${this.#prefix}traces/${trace}/`)))
    ).flat();
    const events = await this.#readAll<Envelope>(keys);
    return traceCommit(events, sha);
  }

  async newest(): Promise<{ targets: PlannedOutcome[]; branches: BranchOutcome[] }> {
    const [targetKeys, branchKeys] = await Promise.all([
      this.#list(`${this.#prefix}targets/`),
      this.#list(`${this.#prefix}branches/`),
    ]);
    const [targets, branches] = await Promise.all([
      this.#readAll<PlannedOutcome>(targetKeys),
      this.#readAll<BranchOutcome>(branchKeys),
    ]);
    return { targets, branches };
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

  async #merge<T>(key: string, update: T, merge: (current: T | undefined, next: T) => T): Promise<void> {
    await updateJson<T>(this.#client, this.#bucket, key, (current) => merge(current, update));
  }

  #list(prefix: string): Promise<string[]> {
    return listKeys(this.#client, this.#bucket, prefix, `history in bucket ${this.#bucket}`);
  }

  #readAll<T>(keys: readonly string[]): Promise<T[]> {
    return readAllJson<T>(this.#client, this.#bucket, keys);
  }
}
