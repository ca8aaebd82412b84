import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3EventRecord } from '../../shared/adapters/aws/s3-event-record.ts';
import { describeHistoryContract } from '../contract/history.contract.ts';
import { aws, clients, uniqueName } from './support.ts';

/** The deployed record: the record function stores each event as S3 objects per trace. */
describeHistoryContract('S3EventRecord (LocalStack S3)', async () => {
  const { s3 } = clients();
  const bucket = uniqueName('history-contract');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const record = new S3EventRecord({ bucket, aws: aws() });
  return {
    record: async (events) => {
      for (const e of events) await record.record(e);
    },
    history: record,
  };
});

/** The record function's batches (RECORD_BATCH): every event of a batch recorded at once, together. */
describeHistoryContract('S3EventRecord, events recorded as one batch (LocalStack S3)', async () => {
  const { s3 } = clients();
  const bucket = uniqueName('history-batch');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const record = new S3EventRecord({ bucket, aws: aws() });
  return {
    record: async (events) => {
      await Promise.all(events.map((e) => record.record(e)));
    },
    history: record,
  };
});

describe('S3EventRecord summaries written before they were sharded', () => {
  it('still shows a target summarised one object per target, the newer entry winning', async () => {
    // GIVEN a bucket with per-target summaries as older record functions wrote them
    const { s3 } = clients();
    const bucket = uniqueName('history-old');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const old = (target: string, generation: number, outcome: string) =>
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `history/targets/web/${target}.json`,
          Body: JSON.stringify({
            app: 'web',
            target,
            repo: 'acme/fleet',
            branch: 'main',
            commit: String(generation).repeat(40),
            traceId: `trace-${generation}`,
            generation,
            outcome,
            at: `2026-12-0${generation}T00:00:00.000Z`,
          }),
        }),
      );
    await old('staging', 1, 'Healthy');
    await old('prod', 1, 'Healthy');
    // WHEN a newer release of web to prod is recorded (into the shards)
    const record = new S3EventRecord({ bucket, aws: aws() });
    await record.record({
      version: '0',
      id: 'e-2',
      'detail-type': 'Deployment Succeeded',
      source: 'sluice',
      account: '000000000000',
      time: '2026-12-02T00:00:00Z',
      region: 'us-east-1',
      resources: [],
      detail: {
        schemaVersion: 1,
        traceId: 'trace-2',
        repo: 'acme/fleet',
        branch: 'main',
        commit: '2'.repeat(40),
        generation: 2,
        app: 'web',
        target: 'prod',
        digest: `sha256:${'a'.repeat(64)}`,
        occurredAt: '2026-12-02T00:00:00.000Z',
        applied: 1,
        unchanged: 0,
        pruned: 0,
        durationMs: 10,
      },
    });
    // THEN status shows both targets: staging from the old object, prod at the newer generation
    const { targets } = await record.newest();
    const of = (t: string) => targets.find((x) => x.app === 'web' && x.target === t);
    expect(targets).toHaveLength(2);
    expect(of('staging')).toMatchObject({ generation: 1, outcome: 'Healthy' });
    expect(of('prod')).toMatchObject({ generation: 2, outcome: 'Healthy' });
  });
});
