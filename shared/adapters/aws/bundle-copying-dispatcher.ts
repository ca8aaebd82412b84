/**
 * Bundles served from each target's own region: before an Apply Requested goes to an agent queue,
 * the bundle it names is copied from the management bucket into the bucket of the agent's
 * account/region (`sluice-bundles-<account>-<region>`, created by that regional stack). The agent
 * then reads only its own region's bucket, so a region deploys and rolls back without the
 * management region. Copy at dispatch rather than S3 replication: replication is asynchronous (an
 * agent could read before the copy lands, and would wait a visibility timeout to retry), needs
 * versioning and a replication role per destination, and copies every bundle to every region
 * instead of only the ones a region deploys.
 */
import { CopyObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { AwsSettings } from '../../config/env.ts';
import { BadInputError } from '../../errors.ts';
import type { AgentDispatcher, AgentMessage } from '../../ports/index.ts';
import type { TargetRef } from '../../schemas/events.ts';
import { s3ClientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';

/** The bundle bucket of an account/region; the management stack's bucket follows the same rule. */
export const bundleBucketName = (account: string, region: string): string =>
  `sluice-bundles-${account}-${region}`;

/** The account in an SQS queue URL (`…/<account>/<queue>`), i.e. whose agent reads the queue. */
export const queueAccount = (queueUrl: string): string | undefined =>
  /\/(\d{12})\/[^/]+$/.exec(queueUrl)?.[1];

export interface BundleCopyingDispatcherOptions {
  /** Sends the Apply Requested once the bundle is in place (SqsAgentDispatcher). */
  readonly inner: AgentDispatcher;
  /** The agent queue of a target (agentQueueUrlFor): its account picks the destination bucket. */
  readonly queueUrlFor: (target: TargetRef) => string;
  /** The management bucket the bundles are rendered into (SLUICE_BUCKET). */
  readonly sourceBucket: string;
  /** Region (the management region) and optional emulator endpoint. */
  readonly aws: AwsSettings;
  /** One client per destination region; built from `aws` when not given. */
  readonly clientFor?: (region: string) => S3Client;
}

export class BundleCopyingDispatcher implements AgentDispatcher {
  readonly #options: BundleCopyingDispatcherOptions;
  readonly #clients = new Map<string, S3Client>();
  /** Bundles are content-addressed: one copied once stays correct, so this cold start remembers it. */
  readonly #copied = new Set<string>();

  constructor(options: BundleCopyingDispatcherOptions) {
    this.#options = options;
  }

  async send(target: TargetRef, message: { body: string; dedupId: string }): Promise<void> {
    const key = bundleKeyOf(message.body);
    const account = queueAccount(this.#options.queueUrlFor(target));
    if (account !== undefined) await this.copy(key, bundleBucketName(account, target.region), target.region);
    await this.#options.inner.send(target, message);
  }

  /** Each distinct bundle copied once per destination bucket, then the inner dispatcher's batches. */
  async sendMany(messages: readonly AgentMessage[]): Promise<void> {
    const copies = new Map<string, { key: string; bucket: string; region: string }>();
    for (const m of messages) {
      const key = bundleKeyOf(m.body);
      const account = queueAccount(this.#options.queueUrlFor(m.target));
      if (account === undefined) continue;
      const bucket = bundleBucketName(account, m.target.region);
      copies.set(`${bucket}/${key}`, { key, bucket, region: m.target.region });
    }
    await Promise.all([...copies.values()].map((c) => this.copy(c.key, c.bucket, c.region)));
    const { inner } = this.#options;
    if (inner.sendMany) await inner.sendMany(messages);
    else for (const m of messages) await inner.send(m.target, { body: m.body, dedupId: m.dedupId });
  }

  private async copy(key: string, bucket: string, region: string): Promise<void> {
    const { sourceBucket } = this.#options;
    if (bucket === sourceBucket || this.#copied.has(`${bucket}/${key}`)) return;
    const client = this.client(region);
    try {
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== 404) throw translateAwsError(error, `bundle ${key} in ${bucket}`, { bucket, key });
      try {
        await client.send(
          new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${sourceBucket}/${key}` }),
        );
      } catch (copyError) {
        throw translateAwsError(copyError, `copy of bundle ${key} from ${sourceBucket} to ${bucket}`, {
          source: sourceBucket,
          bucket,
          key,
        });
      }
    }
    this.#copied.add(`${bucket}/${key}`);
  }

  private client(region: string): S3Client {
    if (this.#options.clientFor) return this.#options.clientFor(region);
    let client = this.#clients.get(region);
    if (client === undefined) {
      client = new S3Client(s3ClientConfig({ ...this.#options.aws, region }));
      this.#clients.set(region, client);
    }
    return client;
  }
}

const bundleKeyOf = (body: string): string => {
  const key = (JSON.parse(body) as { bundle?: { key?: unknown } }).bundle?.key;
  if (typeof key !== 'string' || !/^bundles\/[0-9a-f]{64}\.json$/.test(key)) {
    throw new BadInputError(
      'Apply Requested',
      `bundle key ${JSON.stringify(key)} is not bundles/<sha256>.json`,
      'send Apply Requested built by dispatch (shared/core/dispatch.ts)',
    );
  }
  return key;
};
