import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type IngestServer, startIngestServer } from '../../shared/adapters/local/ingest-server.ts';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import { type IngestDeps, type IngestRequest, ingestWebhook } from '../../shared/core/ingest.ts';
import { UnavailableError } from '../../shared/errors.ts';
import type { OutboundEvent } from '../../shared/schemas/events.ts';

const SECRET = 'integration-secret';

const coreDeps = (published: OutboundEvent[]): IngestDeps => {
  const claimed = new Set<string>();
  return {
    bus: { publish: async (events) => void published.push(...events) },
    deliveries: {
      claim: async (key) => {
        if (claimed.has(key)) return false;
        claimed.add(key);
        return true;
      },
      release: async (key) => {
        claimed.delete(key);
      },
    },
    clock: { now: () => new Date() },
    webhookSecrets: async () => [SECRET],
    newTraceId: () => crypto.randomUUID(),
  };
};

/** node:http rather than fetch: it reports an early answer even while the body is still being sent. */
const post = (url: string, body: Buffer, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    let answered = false;
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    // The server hangs up on an oversized upload once it has answered; that write error is expected.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.end(body);
  });

describe('startIngestServer', () => {
  let server: IngestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    vi.restoreAllMocks();
  });

  it('accepts a signed push sent by sendWebhook', async () => {
    // GIVEN the real HTTP edge on an ephemeral loopback port in front of the real ingest core
    const published: OutboundEvent[] = [];
    const seen: string[] = [];
    server = await startIngestServer({
      ingest: (req) => ingestWebhook(coreDeps(published), req),
      onRequest: ({ method, path, status }) => seen.push(`${method} ${path} ${status}`),
    });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const payload = githubPushPayload({
      repo: 'local/fleet',
      cloneUrl: 'http://127.0.0.1:9418/fleet.git',
      ref: 'refs/heads/main',
      before: '0'.repeat(40),
      after: 'c'.repeat(40),
      message: 'first',
    });
    // WHEN sendWebhook delivers a push
    const response = await sendWebhook({
      url: `${server.url}/webhooks/github`,
      secret: SECRET,
      event: 'push',
      deliveryId: 'delivery-1',
      payload,
    });
    // THEN it is accepted and one Commit Pushed for the branch is published
    expect(response).toMatchObject({ status: 202, body: { status: 'accepted' } });
    expect(published.map((e) => [e.detailType, e.detail.branch, e.detail.commit])).toEqual([
      ['Commit Pushed', 'main', 'c'.repeat(40)],
    ]);
    expect(seen).toEqual(['POST /webhooks/github 202']);
  });

  it('answers 413 to an oversized body without passing it to ingest', async () => {
    // GIVEN an ingest that must not be reached
    const ingest = vi.fn(async (_req: IngestRequest) => ({ status: 202, body: {} }));
    server = await startIngestServer({ ingest });
    const body = Buffer.alloc(3 * 1024 * 1024, 0x20);
    // WHEN a body over 1 MiB arrives, with and without a declared length
    const declared = await post(`${server.url}/webhooks/github`, body, {
      'content-type': 'application/json',
    });
    const chunked = await post(`${server.url}/webhooks/github`, body, {
      'content-type': 'application/json',
      'transfer-encoding': 'chunked',
    });
    // THEN both get 413 and ingest never runs
    expect([declared.status, chunked.status]).toEqual([413, 413]);
    expect(JSON.parse(chunked.body)).toMatchObject({ error: 'payload_too_large' });
    expect(ingest).not.toHaveBeenCalled();
  });

  it('answers 404 to an unknown path, 405 to a wrong method and 200 to the health check', async () => {
    server = await startIngestServer({ ingest: async () => ({ status: 202, body: {} }) });
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    const wrongMethod = await fetch(`${server.url}/webhooks/github`);
    expect([wrongMethod.status, wrongMethod.headers.get('allow')]).toEqual([405, 'POST']);
    const health = await fetch(`${server.url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
  });

  it('answers 500 with no details when ingest throws, and logs the message', async () => {
    // GIVEN an ingest that fails with a message that must not leak
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    server = await startIngestServer({
      ingest: async () => {
        throw new Error('secret-store token=abc123 exploded');
      },
    });
    // WHEN a delivery arrives
    const response = await post(`${server.url}/webhooks/github`, Buffer.from('{}'));
    // THEN the sender sees only "internal", and the operator sees the message on stderr
    expect(response).toEqual({ status: 500, body: JSON.stringify({ error: 'internal' }) });
    expect(log).toHaveBeenCalledWith(expect.stringContaining('exploded'));
  });

  it('answers 503 retryable when a dependency is unavailable, and sendWebhook retries it', async () => {
    // GIVEN an ingest whose bus is down for the first two attempts
    vi.spyOn(console, 'error').mockImplementation(() => {});
    let calls = 0;
    server = await startIngestServer({
      ingest: async () => {
        calls += 1;
        if (calls < 3) throw new UnavailableError('event bus');
        return { status: 202, body: { status: 'accepted' } };
      },
    });
    // WHEN sendWebhook delivers
    const response = await sendWebhook({
      url: `${server.url}/webhooks/github`,
      secret: SECRET,
      event: 'ping',
      payload: {},
    });
    // THEN the third attempt succeeds
    expect([calls, response.status]).toEqual([3, 202]);
  });

  it('returns the last 503 after three attempts and throws when nothing listens', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    server = await startIngestServer({
      ingest: async () => {
        throw new UnavailableError('event bus');
      },
    });
    const url = `${server.url}/webhooks/github`;
    expect(await sendWebhook({ url, secret: SECRET, event: 'ping', payload: {} })).toEqual({
      status: 503,
      body: { error: 'unavailable', retryable: true },
    });
    await server.close();
    server = undefined;
    await expect(sendWebhook({ url, secret: SECRET, event: 'ping', payload: {} })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });
});
