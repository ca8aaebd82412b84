/**
 * The AWS emulator restarted mid-flow, under `sluice dev --aws` (EventBridge, SQS, S3 and Secrets
 * Manager on LocalStack, the handlers' queue loops in this process).
 *
 * What a real outage does: the endpoint stops answering and comes back with every bus, queue,
 * message, object and secret intact. The free LocalStack keeps nothing across a restart
 * (PERSISTENCE=1 is a Pro feature; checked on 4.13.1: a queue created before is gone after), so a
 * restart here is harsher than an outage: the queued messages are lost for good, as in a region
 * wiped of its queues. Two stand-ins, both documented in docs/aws-emulator.md:
 * - the operator re-provisions (`pipeline.reprovision()`: the same names, so the same queue URLs;
 *   the pipeline itself recreates nothing);
 * - S3's durability is played by the test: the bucket's objects (ledger, bundles, delivery
 *   claims) are copied out just before the stop and written back after the restart. Without it
 *   the ledger's branch generation would restart at 1 and every agent would refuse the next
 *   release as stale (its inventory holds a higher generation).
 * The in-flight push and the pushes whose webhooks failed during the outage are recovered by one
 * tick of the reconciliation poll, which compares the branch head with the last planned commit.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsFleet, startAwsFleet } from '../../bench/lib/aws-fleet.ts';
import { configMap, smallRepo } from '../../bench/lib/fixtures.ts';
import { allHealthyAt, until, writeCommits } from '../../bench/lib/fleet.ts';
import { workdirPaths } from '../../cli/runtime/local-pipeline.ts';
import { clientConfig, s3ClientConfig } from '../../shared/adapters/aws/client-config.ts';
import { createGitSource } from '../../shared/adapters/git/git-source.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { readAwsSettings } from '../../shared/config/env.ts';
import { reconcileBranches } from '../../shared/core/reconcile.ts';

const TARGETS = ['r0-t0', 'r0-t1'];

/** Every object of the bucket, as S3 would still hold it after an outage. */
const copyBucket = async (s3: S3Client, bucket: string): Promise<Map<string, Uint8Array>> => {
  const objects = new Map<string, Uint8Array>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const { Key } of page.Contents ?? []) {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
      objects.set(Key!, await object.Body!.transformToByteArray());
    }
    token = page.NextContinuationToken;
  } while (token);
  return objects;
};

describe('the AWS emulator restarted mid-flow', () => {
  let fleet: AwsFleet;

  beforeAll(async () => {
    // This suite stops and starts the emulator, so it runs its own on a free port, never one it was given.
    delete process.env.AWS_ENDPOINT_URL;
    fleet = await startAwsFleet(smallRepo(0), { coalesceMs: 1000, freePort: true });
  }, 240_000);

  afterAll(async () => {
    await fleet?.stop();
  }, 60_000);

  it('converges every target to its branch head once the emulator is back and re-provisioned', async () => {
    // GIVEN `sluice dev --aws` with the seed and one more commit Healthy on both targets (generation 2)
    const { pipeline } = fleet.dev;
    const seed = await fleet.head();
    await until('seed Healthy', () => allHealthyAt(pipeline, 'fleet', seed, TARGETS.length), 120_000);
    const [deployed, inFlight, outage1, outage2] = await writeCommits(
      fleet.gitDir,
      seed,
      ['deployed', 'in flight', 'during the outage', 'still during the outage'].map((message, n) => ({
        files: { 'apps/app-0/configmap.yaml': configMap('app-0', `v${n + 1}`) },
        message,
      })),
    );
    expect(await fleet.push(deployed!)).toBe(202);
    await until('Healthy', () => allHealthyAt(pipeline, 'fleet', deployed!, TARGETS.length), 120_000);
    // AND a push accepted by ingest and waiting in the plan queue (its 1 s coalescing delay)
    expect(await fleet.push(inFlight!)).toBe(202);
    const aws = readAwsSettings();
    const s3 = new S3Client(s3ClientConfig(aws));
    const durable = await copyBucket(s3, pipeline.resources.bucket);

    // WHEN the emulator process stops mid-flow
    await fleet.stopEmulator();
    // AND two more pushes land on the git server while it is down (their webhooks cannot be accepted)
    const outageAnswers = [await fleet.push(outage1!), await fleet.push(outage2!)];
    // AND it starts again on the same port, empty
    await fleet.startEmulatorAgain();
    const sqs = new SQSClient(clientConfig(aws));
    const left = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'sluice-dev' }));
    // AND the operator re-provisions, S3 holding what it held before the outage
    await pipeline.reprovision();
    for (const [Key, Body] of durable) {
      await s3.send(new PutObjectCommand({ Bucket: pipeline.resources.bucket, Key, Body }));
    }
    // AND the reconciliation poll runs once
    const reconciled = await reconcileBranches(
      {
        git: createGitSource({ cacheDir: await mkdtemp(path.join(tmpdir(), 'sluice-reconcile-')) }),
        ledger: pipeline.ledger,
        bus: pipeline.bus,
        clock: systemClock,
        newTraceId: randomUUID,
      },
      [{ repo: 'local/fleet', repoUrl: fleet.dev.gitUrl, branch: 'main' }],
    );

    // THEN nothing of the pipeline survived the restart until it was re-provisioned
    expect(left.QueueUrls ?? []).toEqual([]);
    expect(outageAnswers.every((status) => status < 200 || status >= 300)).toBe(true);
    expect(reconciled.failed).toEqual([]);
    // AND every target converges to the branch head, as the ledger in S3 says
    const head = await fleet.head();
    expect(head).toBe(outage2);
    await until('Healthy at the head', () => allHealthyAt(pipeline, 'fleet', head, TARGETS.length), 120_000);
    const records = await pipeline.ledger.listDeployments();
    expect(records.map((r) => [r.target, r.commit, r.state]).sort()).toEqual(
      TARGETS.map((t) => [t, head, 'Healthy']),
    );
    // AND each target holds the head's content
    for (const target of TARGETS) {
      const dir = path.join(workdirPaths(path.join(fleet.workdir, '.sluice')).targets, target, 'app-0');
      expect(await readFile(path.join(dir, 'configmap.app-0.yaml'), 'utf8')).toContain('value: v4');
    }
  }, 300_000);
});
