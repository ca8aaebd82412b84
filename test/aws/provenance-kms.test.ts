/**
 * Issue 19, bundles signed in AWS: on LocalStack, dispatch (built by the composition root, as the
 * dispatch Lambda is) signs each hand-off with a KMS ECC_NIST_P256 key, and the agent handler,
 * verifying with the KMS public key, applies that bundle from S3 and refuses an unsigned one, one
 * whose signature is for another bundle, and one whose bytes were swapped in the bucket.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { KmsBundleSigner, KmsBundleVerifier } from '../../shared/adapters/aws/kms-bundle-signing.ts';
import { S3BundleStore } from '../../shared/adapters/aws/s3-bundle-store.ts';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { localContext } from '../../shared/adapters/local/event-source.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { MemorySecretStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { encodeBundle } from '../../shared/core/bundle.ts';
import { createPipeline } from '../../shared/runtime/pipeline.ts';
import type { ApplyRequested, BundleVerified, OutboundEvent } from '../../shared/schemas/events.ts';
import { createAgentHandler } from '../support/agent-handler.ts';
import { aws, clients, uniqueName } from './support.ts';

const record = (body: string, id: string): SQSRecord => ({
  messageId: id,
  receiptHandle: id,
  body,
  attributes: {
    ApproximateReceiveCount: '1',
    SentTimestamp: '0',
    SenderId: 'test',
    ApproximateFirstReceiveTimestamp: '0',
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:sluice-agent-us-east-1',
  awsRegion: 'us-east-1',
});

const bundleOf = (value: string) =>
  encodeBundle(
    [
      {
        file: 'apps/web/cm.yaml',
        object: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'web', namespace: 'web' },
          data: { value },
        },
      },
    ],
    { app: 'web', commit: 'a'.repeat(40) },
  );

describe('KMS-signed bundles on LocalStack: dispatch signs, the agent verifies', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('applies the bundle dispatch signed with KMS and refuses unsigned, re-pointed and swapped bundles', async () => {
    // GIVEN a KMS signing key as the management stack creates it, a bundle bucket and two bundles
    const kms = new KMSClient(clientConfig(aws()));
    const { KeyMetadata } = await kms.send(
      new CreateKeyCommand({
        KeySpec: 'ECC_NIST_P256',
        KeyUsage: 'SIGN_VERIFY',
        Description: 'sluice provenance',
      }),
    );
    const keyId = KeyMetadata!.Arn!;
    const { s3 } = clients();
    const bucket = uniqueName('provenance');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const bundles = new S3BundleStore({ bucket, aws: aws() });
    const good = await bundles.put(bundleOf('signed'), { objects: 1 });
    const other = await bundles.put(bundleOf('other'), { objects: 1 });
    const root = await mkdtemp(path.join(tmpdir(), 'sluice-kms-'));
    dirs.push(root);

    // WHEN dispatch, built by the composition root with the KMS signer, hands `good` to an agent
    const sent: string[] = [];
    const published: OutboundEvent[] = [];
    const bus = { publish: async (events: readonly OutboundEvent[]) => void published.push(...events) };
    const dispatch = createPipeline(
      {
        clock: systemClock,
        bus,
        ledger: new FileLedger(),
        agents: { send: async (_target, message) => void sent.push(message.body) },
        signer: new KmsBundleSigner({ keyId, aws: aws() }),
        deadLetters: {
          park: async (_message, reason) => {
            throw new Error(reason);
          },
        },
      },
      { metricsSink: () => undefined },
    ).handler('dispatch');
    const verified: BundleVerified = {
      schemaVersion: 1,
      traceId: 'trace-provenance-kms',
      repo: 'acme/fleet',
      branch: 'main',
      commit: 'a'.repeat(40),
      occurredAt: new Date().toISOString(),
      generation: 1,
      app: 'web',
      bundle: good,
      targets: [{ name: 't1', cloud: 'aws', region: 'us-east-1', agent: 'lambda' }],
      sync: { prune: true, selfHeal: false },
      cached: false,
    };
    const envelope = {
      version: '0',
      id: 'e-1',
      'detail-type': 'Bundle Verified',
      source: 'sluice',
      time: new Date().toISOString(),
      resources: [],
      detail: verified,
    };
    expect(
      (await dispatch({ Records: [record(JSON.stringify(envelope), 'd-1')] }, localContext('dispatch')))
        ?.batchItemFailures,
    ).toEqual([]);

    // THEN the hand-off carries a KMS (ECDSA P-256) signature
    const request = JSON.parse(sent[0] ?? '{}') as ApplyRequested;
    expect(request.bundle.signature?.algorithm).toBe('ecdsa-p256-sha256');

    // AND the agent, trusting only the KMS public key, applies it from S3
    const target = (name: string) => path.join(root, name);
    const agentFor = (name: string) =>
      createAgentHandler({
        bundles: new S3BundleStore({ bucket, aws: aws() }),
        cluster: () => new DirectoryCluster(target(name)),
        secrets: new MemorySecretStore(),
        bus,
        clock: systemClock,
        verifier: new KmsBundleVerifier({ keyId, aws: aws() }),
      });
    const deliver = async (name: string, apply: ApplyRequested) =>
      (await agentFor(name)({ Records: [record(JSON.stringify(apply), name)] }, localContext('agent')))
        ?.batchItemFailures ?? [];
    published.length = 0;
    await deliver('signed', request);
    expect(published.map((e) => e.detailType)).toEqual(['Deployment Succeeded']);
    expect(await readdir(target('signed'))).toContain('web');

    // WHEN an unsigned hand-off, and one pointing the signature at another bundle, reach the agent
    const { signature: _dropped, ...unsigned } = request.bundle;
    published.length = 0;
    await deliver('unsigned', { ...request, bundle: unsigned });
    await deliver('repointed', { ...request, bundle: { ...other, signature: request.bundle.signature! } });
    // THEN both are refused before anything is read or applied
    expect(published.map((e) => [e.detailType, (e.detail as { reason?: string }).reason])).toEqual([
      ['Deployment Failed', 'SIGNATURE_INVALID'],
      ['Deployment Failed', 'SIGNATURE_INVALID'],
    ]);
    expect(await readdir(target('unsigned')).catch(() => [])).toEqual([]);
    expect(await readdir(target('repointed')).catch(() => [])).toEqual([]);

    // WHEN the signed bundle's bytes are swapped in the bucket (the signature and digest stay)
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: good.key, Body: bundleOf('swapped') }));
    published.length = 0;
    await deliver('swapped', request);
    // THEN the agent refuses the bytes (their sha256 is not the signed digest) and applies nothing
    expect(published.map((e) => [e.detailType, (e.detail as { reason?: string }).reason])).toEqual([
      ['Deployment Failed', 'DIGEST_MISMATCH'],
    ]);
    expect(await readdir(target('swapped')).catch(() => [])).toEqual([]);
  }, 120_000);
});
