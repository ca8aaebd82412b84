import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings } from '../../config/env.ts';
import { applyUpdate } from '../../core/ledger.ts';
import { BadInputError, ConflictError } from '../../errors.ts';
import type { BranchState, DeploymentRecord, DeploymentUpdate, Ledger } from '../../ports/index.ts';
import { s3ClientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';
import { readJson, writeJsonIf } from './s3-objects.ts';

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
 * The deployment ledger as one JSON object per branch and per (app, target) in S3, each write
 * conditional on the ETag read (If-Match) or on absence (If-None-Match: *). See
 * docs/aws-emulator.md for why S3 rather than DynamoDB.
 */
export class S3Ledger implements Ledger {
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

  #deploymentKey(app: string, target: string): string {
    return `${this.#prefix}deployments/${part(app)}/${part(target)}.json`;
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

  async getDeployment(app: string, target: string): Promise<DeploymentRecord | undefined> {
    return (await readJson<DeploymentRecord>(this.#client, this.#bucket, this.#deploymentKey(app, target)))
      ?.value;
  }

  async recordDeployment(update: DeploymentUpdate): Promise<DeploymentRecord> {
    const key = this.#deploymentKey(update.app, update.target);
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const current = await readJson<DeploymentRecord>(this.#client, this.#bucket, key);
      // The shared rule: an older generation, or a state going backwards, leaves the record as is.
      const next = applyUpdate(current?.value, update);
      if (current && next === current.value) return next;
      if (await writeJsonIf(this.#client, this.#bucket, key, next, current?.etag)) return next;
      await new Promise((done) => setTimeout(done, Math.random() * 20 * attempt));
    }
    throw new ConflictError(`deployment ${update.app}@${update.target}`, { attempts: this.#maxAttempts });
  }

  async listDeployments(): Promise<DeploymentRecord[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      try {
        const page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: `${this.#prefix}deployments/`,
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } catch (error) {
        throw translateAwsError(error, `ledger in bucket ${this.#bucket}`);
      }
    } while (token !== undefined);
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
}
