import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { githubPushPayload } from '../../shared/adapters/local/push-webhook.ts';
import {
  edgeErrorResponse,
  type IngestDeps,
  type IngestRequest,
  ingestWebhook,
} from '../../shared/core/ingest.ts';
import { ZERO_SHA } from '../../shared/core/webhooks/github.ts';
import { signGithub } from '../../shared/core/webhooks/signature.ts';
import { UnavailableError } from '../../shared/errors.ts';
import type { EventBus, IdempotencyStore } from '../../shared/ports/index.ts';
import { createIngestHandler } from '../../shared/runtime/ingest-handler.ts';
import { eventSchemas, type OutboundEvent } from '../../shared/schemas/events.ts';

const SECRET = 'current-secret';
const OLD_SECRET = 'previous-secret';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const NOW = new Date('2026-01-02T03:04:05.000Z');

// Tiny in-memory fakes: the real local adapters live elsewhere and are tested there.
const setup = (secrets: string[] = [SECRET], bus?: EventBus) => {
  const published: OutboundEvent[] = [];
  const claimed = new Set<string>();
  const deliveries: IdempotencyStore = {
    claim: async (key) => {
      if (claimed.has(key)) return false;
      claimed.add(key);
      return true;
    },
    release: async (key) => {
      claimed.delete(key);
    },
  };
  let traces = 0;
  const deps: IngestDeps = {
    bus: bus ?? { publish: async (events) => void published.push(...events) },
    deliveries,
    clock: { now: () => NOW },
    webhookSecrets: async () => secrets,
    newTraceId: () => `trace-${String(++traces).padStart(8, '0')}`,
  };
  return { deps, published, claimed };
};

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

const pushBody = (over: Partial<Parameters<typeof githubPushPayload>[0]> = {}): Uint8Array =>
  encode(
    githubPushPayload({
      repo: 'acme/fleet',
      cloneUrl: 'https://github.com/acme/fleet.git',
      ref: 'refs/heads/main',
      before: A,
      after: B,
      message: 'deploy web',
      pusher: 'ana',
      ...over,
    }),
  );

const request = (
  body: Uint8Array,
  headers: Record<string, string | undefined> = {},
  secret = SECRET,
): IngestRequest => ({
  provider: 'github',
  body,
  headers: {
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    'x-hub-signature-256': signGithub(secret, body),
    ...headers,
  },
});

describe('ingestWebhook', () => {
  it('accepts a signed push and publishes exactly one valid Commit Pushed', async () => {
    // GIVEN a correctly signed push
    const { deps, published } = setup();
    // WHEN it is ingested
    const response = await ingestWebhook(deps, request(pushBody()));
    // THEN it is accepted with a trace id, and one event that passes its schema is on the bus
    expect(response).toEqual({ status: 202, body: { status: 'accepted', traceId: 'trace-00000001' } });
    expect(published).toHaveLength(1);
    expect(published[0]?.detailType).toBe('Commit Pushed');
    expect(eventSchemas['Commit Pushed'].parse(published[0]?.detail)).toEqual({
      schemaVersion: 1,
      traceId: 'trace-00000001',
      repo: 'acme/fleet',
      branch: 'main',
      commit: B,
      before: A,
      ref: 'refs/heads/main',
      forced: false,
      deleted: false,
      deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      provider: 'github',
      repoUrl: 'https://github.com/acme/fleet.git',
      pusher: 'ana',
      message: 'deploy web',
      occurredAt: NOW.toISOString(),
      receivedAt: NOW.toISOString(),
    });
  });

  it('publishes a redelivered delivery id only once', async () => {
    // GIVEN one push delivered twice with the same delivery id
    const { deps, published, claimed } = setup();
    const body = pushBody();
    // WHEN both arrive
    const first = await ingestWebhook(deps, request(body));
    const second = await ingestWebhook(deps, request(body));
    // THEN the second is a duplicate and the bus holds one event
    expect(first.status).toBe(202);
    expect(second).toEqual({
      status: 200,
      body: { status: 'duplicate', deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958' },
    });
    expect(published).toHaveLength(1);
    expect([...claimed]).toEqual(['github:72d3162e-cc78-11e3-81ab-4c9367dc0958']);
  });

  it("accepts the sender's retry after the bus failed, so the push is not lost", async () => {
    // GIVEN a bus that fails once, then works
    const published: OutboundEvent[] = [];
    let failures = 1;
    const { deps } = setup([SECRET], {
      publish: async (events) => {
        if (failures-- > 0) throw new UnavailableError('event bus');
        published.push(...events);
      },
    });
    const body = pushBody();
    // WHEN the push arrives, fails, and the sender retries the same delivery
    const first = await ingestWebhook(deps, request(body)).catch((error: unknown) =>
      edgeErrorResponse(error),
    );
    const retry = await ingestWebhook(deps, request(body));
    // THEN the first answer is a retryable 503 and the retry is accepted, not taken for a duplicate
    expect(first.status).toBe(503);
    expect(retry.status).toBe(202);
    expect(published).toHaveLength(1);
  });

  it('rejects a body changed by one byte after signing', async () => {
    // GIVEN a signature over the original body and a body with one byte flipped
    const { deps, published } = setup();
    const body = pushBody();
    const signature = signGithub(SECRET, body);
    const tampered = Uint8Array.from(body);
    tampered[10] = (tampered[10] ?? 0) ^ 1;
    // WHEN the tampered body arrives with the original signature
    const response = await ingestWebhook(deps, request(tampered, { 'x-hub-signature-256': signature }));
    // THEN it is unauthorised and nothing is published
    expect(response.status).toBe(401);
    expect(published).toEqual([]);
  });

  it('rejects a signature changed by one character', async () => {
    const { deps, published } = setup();
    const body = pushBody();
    const signature = signGithub(SECRET, body);
    const flipped = `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`;
    const response = await ingestWebhook(deps, request(body, { 'x-hub-signature-256': flipped }));
    expect(response.status).toBe(401);
    expect(published).toEqual([]);
  });

  it('rejects an unsigned delivery and says which header is missing', async () => {
    const { deps, published } = setup();
    const response = await ingestWebhook(deps, request(pushBody(), { 'x-hub-signature-256': undefined }));
    expect(response.status).toBe(401);
    expect(response.body.message).toMatch(/missing x-hub-signature-256/);
    expect(published).toEqual([]);
  });

  it('answers 401 explaining that no secret is configured', async () => {
    // GIVEN no secret for the repo  WHEN a delivery arrives  THEN 401 names the provider and repo
    const { deps } = setup([]);
    const response = await ingestWebhook(deps, request(pushBody()));
    expect(response.status).toBe(401);
    expect(response.body.message).toMatch(
      /no webhook secret is configured for github repository "acme\/fleet"/,
    );
  });

  it('accepts both the current and the previous secret during a rotation', async () => {
    // GIVEN two secrets  WHEN one delivery is signed with each  THEN both are accepted
    const { deps, published } = setup([SECRET, OLD_SECRET]);
    const body = pushBody();
    const current = await ingestWebhook(deps, request(body, { 'x-github-delivery': 'one' }, SECRET));
    const previous = await ingestWebhook(deps, request(body, { 'x-github-delivery': 'two' }, OLD_SECRET));
    expect([current.status, previous.status]).toEqual([202, 202]);
    expect(published).toHaveLength(2);
  });

  it('accepts a form-encoded delivery (payload=<JSON>) signed over the raw form bytes', async () => {
    // GIVEN a push sent with GitHub's "application/x-www-form-urlencoded" content type
    const { deps, published } = setup();
    const json = new TextDecoder().decode(pushBody());
    const body = new TextEncoder().encode(`payload=${encodeURIComponent(json)}`);
    // WHEN it is ingested
    const response = await ingestWebhook(
      deps,
      request(body, { 'content-type': 'application/x-www-form-urlencoded' }),
    );
    // THEN it is accepted like the JSON one
    expect(response.status).toBe(202);
    expect(published[0]?.detail).toMatchObject({ repo: 'acme/fleet', branch: 'main', commit: B });
  });

  it('names a plain wrong content type but never echoes an arbitrary header value', async () => {
    const { deps } = setup();
    const plain = await ingestWebhook(deps, request(pushBody(), { 'content-type': 'text/plain' }));
    const odd = await ingestWebhook(
      deps,
      request(pushBody(), { 'content-type': `x${'<script>'.repeat(20)}` }),
    );
    expect(plain).toMatchObject({
      status: 415,
      body: { message: expect.stringMatching(/^content type "text\/plain"/) },
    });
    expect(odd.status).toBe(415);
    expect(JSON.stringify(odd.body)).not.toContain('<script>');
  });

  it('accepts application/json with a charset parameter', async () => {
    const { deps } = setup();
    const response = await ingestWebhook(
      deps,
      request(pushBody(), { 'content-type': 'Application/JSON; charset=utf-8' }),
    );
    expect(response.status).toBe(202);
  });

  it('answers 404 for an unknown provider before anything else', async () => {
    const { deps } = setup();
    const response = await ingestWebhook(deps, { ...request(pushBody()), provider: 'svn' });
    expect(response).toMatchObject({
      status: 404,
      body: { error: 'unknown_provider', supported: expect.arrayContaining(['github', 'gitlab']) },
    });
  });

  it('answers 413 for a signed body over 1 MiB', async () => {
    const { deps } = setup();
    const response = await ingestWebhook(deps, request(new Uint8Array(1024 * 1024 + 1)));
    expect(response.status).toBe(413);
  });

  it('answers 400 for signed malformed JSON without quoting the body', async () => {
    const { deps, published } = setup();
    const response = await ingestWebhook(deps, request(new TextEncoder().encode('{"ref": SECRET-ISH')));
    expect(response).toEqual({
      status: 400,
      body: { error: 'bad_request', message: 'body is not valid UTF-8 JSON' },
    });
    expect(published).toEqual([]);
  });

  it('answers 400 naming the missing field of a signed push', async () => {
    // GIVEN a signed push without repository.full_name (the clone URL is optional: it comes from
    // configuration, never from the payload)
    const { deps, published } = setup();
    const payload = JSON.parse(new TextDecoder().decode(pushBody()));
    delete payload.repository.full_name;
    // WHEN ingested  THEN the answer names the field and nothing is published
    const response = await ingestWebhook(deps, request(encode(payload)));
    expect(response.status).toBe(400);
    expect(response.body.field).toBe('repository.full_name');
    expect(response.body.message).toMatch(/push payload field "repository\.full_name"/);
    expect(published).toEqual([]);
  });

  it('answers pong to a ping', async () => {
    const { deps, published } = setup();
    const body = encode({ zen: 'Design for failure.', hook_id: 1 });
    const response = await ingestWebhook(deps, request(body, { 'x-github-event': 'ping' }));
    expect(response).toEqual({ status: 200, body: { status: 'pong' } });
    expect(published).toEqual([]);
  });

  it('ignores events other than push with a reason', async () => {
    const { deps, published } = setup();
    const response = await ingestWebhook(deps, request(encode({}), { 'x-github-event': 'issues' }));
    expect(response).toEqual({
      status: 200,
      body: { status: 'ignored', reason: 'event "issues" is not handled; only push events are deployed' },
    });
    expect(published).toEqual([]);
  });

  it('ignores a tag push with the reason', async () => {
    const { deps, published, claimed } = setup();
    const response = await ingestWebhook(deps, request(pushBody({ ref: 'refs/tags/v1.0.0' })));
    expect(response).toMatchObject({
      status: 200,
      body: { status: 'ignored', reason: expect.stringMatching(/tag/) },
    });
    expect(published).toEqual([]);
    expect(claimed.size).toBe(0);
  });

  it('answers 400 when the delivery id is missing', async () => {
    const { deps, published } = setup();
    const response = await ingestWebhook(deps, request(pushBody(), { 'x-github-delivery': undefined }));
    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(/missing or malformed x-github-delivery/);
    expect(published).toEqual([]);
  });

  it('publishes a branch deletion for the planner to decide', async () => {
    const { deps, published } = setup();
    const response = await ingestWebhook(deps, request(pushBody({ after: ZERO_SHA })));
    expect(response.status).toBe(202);
    expect(published[0]?.detail).toMatchObject({ deleted: true, commit: A });
  });

  it('lets a failed publish throw so the edge can answer 503', async () => {
    // GIVEN a bus that cannot deliver  WHEN a valid push arrives  THEN ingest throws the retryable error
    const bus: EventBus = {
      publish: async () => {
        throw new UnavailableError('event bus');
      },
    };
    const { deps } = setup([SECRET], bus);
    await expect(ingestWebhook(deps, request(pushBody()))).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      retryable: true,
    });
  });

  it('never accepts without a valid signature and never throws on arbitrary input', async () => {
    // GIVEN arbitrary bodies and headers, signed with nothing, garbage, or the wrong secret
    const header = fc.option(fc.string({ maxLength: 80 }), { nil: undefined });
    const validBody = fc.constantFrom(
      pushBody(),
      pushBody({ ref: 'refs/tags/x' }),
      pushBody({ after: ZERO_SHA }),
    );
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 512 }),
      validBody,
      fc.json().map((j) => encode(j)),
    );
    const signatureFor = (b: Uint8Array) =>
      fc.oneof(
        header,
        fc.stringMatching(/^sha256=[0-9a-f]{64}$/),
        fc.string({ minLength: 1, maxLength: 16 }).map((secret) => signGithub(`${secret}!`, b)),
      );
    const input = body.chain((b) =>
      fc.record({
        body: fc.constant(b),
        signature: signatureFor(b),
        contentType: fc.oneof(fc.constant('application/json'), header),
        event: fc.oneof(fc.constantFrom('push', 'ping'), header),
        delivery: fc.oneof(fc.uuid(), header),
      }),
    );
    await fc.assert(
      fc.asyncProperty(input, async ({ body, signature, contentType, event, delivery }) => {
        const { deps, published } = setup();
        const response = await ingestWebhook(deps, {
          provider: 'github',
          body,
          headers: {
            'content-type': contentType,
            'x-hub-signature-256': signature,
            'x-github-event': event,
            'x-github-delivery': delivery,
          },
        });
        // THEN nothing is accepted or published, and every answer is a well-formed status
        expect(response.status).not.toBe(202);
        expect(response.status).toBeGreaterThanOrEqual(200);
        expect(published).toEqual([]);
      }),
      { seed: 424242, numRuns: 200 },
    );
  });

  it('never throws on arbitrary correctly signed input, and publishes only valid events', async () => {
    // GIVEN arbitrary JSON (and some real pushes with mutated fields), correctly signed
    const mutated = fc
      .record({
        key: fc.constantFrom('ref', 'before', 'after', 'deleted', 'repository', 'pusher'),
        value: fc.jsonValue(),
      })
      .map(({ key, value }) => {
        const payload = JSON.parse(new TextDecoder().decode(pushBody()));
        payload[key] = value;
        return encode(payload);
      });
    const body = fc.oneof(
      fc.json().map((j) => encode(j)),
      mutated,
      fc.uint8Array({ maxLength: 256 }),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.uuid(), async (b, delivery) => {
        const { deps, published } = setup();
        // WHEN ingested
        const response = await ingestWebhook(deps, request(b, { 'x-github-delivery': delivery }));
        // THEN it answers, and anything accepted is exactly one schema-valid event
        expect([200, 202, 400]).toContain(response.status);
        expect(published).toHaveLength(response.status === 202 ? 1 : 0);
        for (const event of published) eventSchemas['Commit Pushed'].parse(event.detail);
      }),
      { seed: 737373, numRuns: 200 },
    );
  });
});

describe('createIngestHandler', () => {
  it('adapts an API Gateway v2 event: mixed-case headers, base64 body, provider from the path', async () => {
    // GIVEN a signed push as API Gateway delivers it
    const { deps, published } = setup();
    const body = pushBody();
    const handler = createIngestHandler(deps);
    const event = {
      pathParameters: { provider: 'github' },
      headers: {
        'Content-Type': 'application/json',
        'X-GitHub-Event': 'push',
        'X-GitHub-Delivery': 'lambda-1',
        'X-Hub-Signature-256': signGithub(SECRET, body),
      },
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
    } as unknown as APIGatewayProxyEventV2;
    // WHEN the handler runs
    const result = await handler(event, {} as Context);
    // THEN the core's answer comes back as JSON and the event is published
    expect(result).toMatchObject({
      statusCode: 202,
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(published).toHaveLength(1);
  });

  it('turns a retryable failure into 503 and anything else into a bare 500', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const failing = (error: Error) =>
      createIngestHandler({ ...setup().deps, webhookSecrets: async () => Promise.reject(error) });
    const event = { pathParameters: { provider: 'github' }, headers: { 'content-type': 'application/json' } };
    const unavailable = await failing(new UnavailableError('secret store'))(
      event as unknown as APIGatewayProxyEventV2,
      {} as Context,
    );
    const broken = await failing(new Error('boom'))(
      event as unknown as APIGatewayProxyEventV2,
      {} as Context,
    );
    expect(unavailable).toMatchObject({ statusCode: 503, body: '{"error":"unavailable","retryable":true}' });
    expect(broken).toMatchObject({ statusCode: 500, body: '{"error":"internal"}' });
    vi.restoreAllMocks();
  });
});
