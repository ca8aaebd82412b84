/**
 * A bounded HTTP load generator for signed webhooks (instead of autocannon: every request needs
 * its own delivery id and signature, and the bodies are signed before the clock starts so the
 * figure is the server's, not the generator's). Two modes: a fixed number of requests in flight
 * for a duration (throughput), or a fixed rate (the chaos suite's 100 webhooks/s).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { githubPushPayload } from '../../shared/adapters/local/push-webhook.ts';
import { GITHUB_SIGNATURE_HEADER, signGithub } from '../../shared/core/webhooks/signature.ts';

export interface SignedRequest {
  readonly deliveryId: string;
  readonly commit: string;
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

/**
 * `count` distinct signed push webhooks for `repo`, each its own delivery id and commit (the
 * given `commits`, or made-up shas).
 */
export const signedPushes = (
  count: number,
  secret: string,
  repo = 'local/load',
  cloneUrl = 'http://127.0.0.1:9/load.git',
  commits: readonly string[] = [],
): SignedRequest[] =>
  Array.from({ length: count }, (_, i) => {
    const commit = commits[i] ?? `${(i + 1).toString(16).padStart(8, '0')}${'a'.repeat(32)}`;
    const body = Buffer.from(
      JSON.stringify(
        githubPushPayload({
          repo,
          cloneUrl,
          ref: 'refs/heads/main',
          before: '0'.repeat(40),
          after: commit,
          message: `load ${i}`,
        }),
      ),
    );
    const deliveryId = randomUUID();
    return {
      deliveryId,
      commit,
      body,
      headers: {
        'content-type': 'application/json',
        'content-length': String(body.byteLength),
        'x-github-event': 'push',
        'x-github-delivery': deliveryId,
        [GITHUB_SIGNATURE_HEADER]: signGithub(secret, body),
      },
    };
  });

export interface Sample {
  readonly deliveryId: string;
  readonly status: number;
  readonly latencyMs: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export const postOnce = (url: URL, request: SignedRequest): Promise<Sample> =>
  new Promise((resolve) => {
    const started = performance.now();
    const done = (status: number) =>
      resolve({ deliveryId: request.deliveryId, status, latencyMs: performance.now() - started });
    const req = http.request(url, { method: 'POST', agent, headers: request.headers }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    // A connection error is recorded as status 0, never thrown: the caller counts it as lost.
    req.on('error', () => done(0));
    req.end(request.body);
  });

/** Keeps `concurrency` requests in flight until `durationMs` passes or the requests run out. */
export const closedLoop = async (
  url: string,
  requests: readonly SignedRequest[],
  concurrency: number,
  durationMs: number,
): Promise<{ samples: Sample[]; elapsedMs: number }> => {
  const target = new URL(url);
  const samples: Sample[] = [];
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (performance.now() - started < durationMs && next < requests.length) {
      samples.push(await postOnce(target, requests[next++]!));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { samples, elapsedMs: performance.now() - started };
};

/** Sends the requests at `perSecond`, on schedule whatever the answers take (an open loop). */
export const openLoop = async (
  url: string,
  requests: readonly SignedRequest[],
  perSecond: number,
): Promise<Sample[]> => {
  const target = new URL(url);
  const started = performance.now();
  const pending: Promise<Sample>[] = [];
  for (let i = 0; i < requests.length; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(postOnce(target, requests[i]!));
  }
  return Promise.all(pending);
};

export const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

export const closeLoadAgent = (): void => agent.destroy();
