import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings } from '../../config/env.ts';
import { applyUpdate, newestRecord } from '../../core/ledger.ts';
import { BadInputError, ConflictError } from '../../errors.ts';
import type {
  BranchState,
  DeploymentRecord,
  DeploymentUpdate,
  Ledger,
  RolloutLedger,
  RolloutRecord,
} from '../../ports/index.ts';
import { s3ClientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';
import { readJson, updateJson, type Versioned, writeJsonIf } from './s3-objects.ts';

export interface S3LedgerOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket. @default 'ledger/' */
  readonly prefix?: string;
  readonly client?: S3Client;
  readonly aws?: AwsSettings;
  /** Read-modify-write attempts for recordDeployment before giving up with CONFLICT. @default 8 */
  readonly maxAttempts?: number;
}

const part = (value: string): string => encodeURIComponent(value);

/**
 * The deployment ledger as one JSON object per branch and per (app, target, repo) in S3, each
 * write conditional on the ETag read (If-Match) or on absence (If-None-Match: *). See
 * docs/aws-emulator.md for why S3 rather than DynamoDB.
 *
 * Keys: `deployments/<app>/<target>/<repo>.json` (each part URI-encoded, so `acme/fleet` is one
 * segment). Records written before the key named the repo sit at `deployments/<app>/<target>.json`;
 * they are read as their repo's record and moved to the new key on its first write.
 */
export class S3Ledger implements Ledger, RolloutLedger {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #maxAttempts: number;

  constructor(options: S3LedgerOptions) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? 'ledger/';
    this.#client = options.client ?? new S3Client(s3ClientConfig(options.aws));
    this.#maxAttempts = options.maxAttempts ?? 8;
  }

  #branchKey(repo: string, branch: string): string {
    return `${this.#prefix}branches/${part(repo)}/${part(branch)}.json`;
  }

  #deploymentKey(app: string, target: string, repo: string): string {
    return `${this.#prefix}deployments/${part(app)}/${part(target)}/${part(repo)}.json`;
  }

  #legacyKey(app: string, target: string): string {
    return `${this.#prefix}deployments/${part(app)}/${part(target)}.json`;
  }

  /** The (repo, app, target) record with its ETag, else the legacy record when it is that repo's. */
  async #current(
    app: string,
    target: string,
    repo: string,
  ): Promise<{ found?: Versioned<DeploymentRecord>; legacy: boolean }> {
    const found = await readJson<DeploymentRecord>(
      this.#client,
      this.#bucket,
      this.#deploymentKey(app, target, repo),
    );
    if (found) return { found, legacy: false };
    const legacy = await readJson<DeploymentRecord>(this.#client, this.#bucket, this.#legacyKey(app, target));
    return legacy?.value.repo === repo ? { found: legacy, legacy: true } : { legacy: false };
  }

  async getBranch(repo: string, branch: string): Promise<BranchState | undefined> {
    return (await readJson<BranchState>(this.#client, this.#bucket, this.#branchKey(repo, branch)))?.value;
  }

  async putBranch(state: Omit<BranchState, 'version'>, expectedVersion: number): Promise<BranchState> {
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0) {
      throw new BadInputError(
        'expectedVersion',
        `${expectedVersion} is not a version`,
        'pass 0 or a read version',
      );
    }
    const key = this.#branchKey(state.repo, state.branch);
    const what = `branch ${state.repo}@${state.branch}`;
    let etag: string | undefined;
    if (expectedVersion > 0) {
      const current = await readJson<BranchState>(this.#client, this.#bucket, key);
      if (current?.value.version !== expectedVersion) {
        throw new ConflictError(what, { expectedVersion, actualVersion: current?.value.version ?? 0 });
      }
      etag = current.etag;
    }
    const next: BranchState = { ...state, version: expectedVersion + 1 };
    if (!(await writeJsonIf(this.#client, this.#bucket, key, next, etag))) {
      throw new ConflictError(what, { expectedVersion });
    }
    return next;
  }

  async getDeployment(app: string, target: string, repo?: string): Promise<DeploymentRecord | undefined> {
    if (repo !== undefined) return (await this.#current(app, target, repo)).found?.value;
    const keys = await this.#list(`${this.#prefix}deployments/${part(app)}/${part(target)}/`);
    return newestRecord(await this.#read([...keys, this.#legacyKey(app, target)]));
  }

  async recordDeployment(update: DeploymentUpdate): Promise<DeploymentRecord> {
    const key = this.#deploymentKey(update.app, update.target, update.repo);
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const { found: current, legacy } = await this.#current(update.app, update.target, update.repo);
      // The shared rule: an older generation, or a state going backwards, leaves the record as is.
      const next = applyUpdate(current?.value, update);
      if (current && next === current.value) return next;
      // A legacy record is copied to the new key only while that key is still absent.
      if (await writeJsonIf(this.#client, this.#bucket, key, next, legacy ? undefined : current?.etag)) {
        if (legacy) await this.#deleteLegacy(update.app, update.target);
        return next;
      }
      await new Promise((done) => setTimeout(done, Math.random() * 20 * attempt));
    }
    throw new ConflictError(`deployment ${update.app}@${update.target} of ${update.repo}`, {
      attempts: this.#maxAttempts,
    });
  }

  async #deleteLegacy(app: string, target: string): Promise<void> {
    try {
      await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#legacyKey(app, target) }),
      );
    } catch (error) {
      throw translateAwsError(error, `ledger in bucket ${this.#bucket}`);
    }
  }

  async #list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      try {
        const page = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } catch (error) {
        throw translateAwsError(error, `ledger in bucket ${this.#bucket}`);
      }
    } while (token !== undefined);
    return keys;
  }

  async #read(keys: readonly string[]): Promise<DeploymentRecord[]> {
    const records: DeploymentRecord[] = [];
    for (let start = 0; start < keys.length; start += 16) {
      const batch = await Promise.all(
        keys
          .slice(start, start + 16)
          .map((key) => readJson<DeploymentRecord>(this.#client, this.#bucket, key)),
      );
      for (const item of batch) if (item) records.push(item.value);
    }
    return records;
  }

  async listDeployments(): Promise<DeploymentRecord[]> {
    const records = await this.#read(await this.#list(`${this.#prefix}deployments/`));
    // Between a legacy record's copy and its delete both exist: the new key's record wins.
    const byKey = new Map<string, DeploymentRecord>();
    for (const r of records) {
      const key = `${r.app}\n${r.target}\n${r.repo}`;
      const seen = byKey.get(key);
      if (!seen || r.version > seen.version) byKey.set(key, r);
    }
    return [...byKey.values()];
  }

  #rolloutKey(repo: string, branch: string, app: string): string {
    return `${this.#prefix}rollouts/${part(repo)}/${part(branch)}/${part(app)}.json`;
  }

  async getRollout(repo: string, branch: string, app: string): Promise<RolloutRecord | undefined> {
    return (await readJson<RolloutRecord>(this.#client, this.#bucket, this.#rolloutKey(repo, branch, app)))
      ?.value;
  }

  async putRollout(record: Omit<RolloutRecord, 'version'>, expectedVersion: number): Promise<RolloutRecord> {
    const key = this.#rolloutKey(record.repo, record.branch, record.app);
    const what = `rollout ${record.app} of ${record.repo}@${record.branch}`;
    let etag: string | undefined;
    if (expectedVersion > 0) {
      const current = await readJson<RolloutRecord>(this.#client, this.#bucket, key);
      if (current?.value.version !== expectedVersion) {
        throw new ConflictError(what, { expectedVersion, actualVersion: current?.value.version ?? 0 });
      }
      etag = current.etag;
    }
    const next: RolloutRecord = { ...record, version: expectedVersion + 1 };
    // Indexed before the record is written: a dependency's outcome always finds its waiters.
    for (const dependency of Object.keys(record.dependsOn ?? {})) {
      await updateJson<string[]>(
        this.#client,
        this.#bucket,
        this.#dependentsKey(record.repo, record.branch, dependency),
        (current = []) => (current.includes(record.app) ? current : [...current, record.app].sort()),
      );
    }
    if (!(await writeJsonIf(this.#client, this.#bucket, key, next, etag))) {
      throw new ConflictError(what, { expectedVersion });
    }
    return next;
  }

  #dependentsKey(repo: string, branch: string, app: string): string {
    return `${this.#prefix}dependents/${part(repo)}/${part(branch)}/${part(app)}.json`;
  }

  /** One GET (a LIST costs 12.5 times as much): the apps that ever waited on `app` here. */
  async dependentsOf(repo: string, branch: string, app: string): Promise<string[]> {
    return (
      (await readJson<string[]>(this.#client, this.#bucket, this.#dependentsKey(repo, branch, app)))?.value ??
      []
    );
  }

  async listRollouts(): Promise<RolloutRecord[]> {
    const keys = await this.#list(`${this.#prefix}rollouts/`);
    const found = await Promise.all(
      keys.map((key) => readJson<RolloutRecord>(this.#client, this.#bucket, key)),
    );
    return found
      .flatMap((f) => (f ? [f.value] : []))
      .sort((a, b) => a.app.localeCompare(b.app) || a.repo.localeCompare(b.repo));
  }
}
