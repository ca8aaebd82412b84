/**
 * ingest: signed webhooks per second and p50/p99 latency at a fixed concurrency against the local
 * ingest server (real HTTP on 127.0.0.1, HMAC verified, delivery deduplicated, Commit Pushed
 * published on the in-process bus), beside the cost of the HMAC alone on the same body.
 * The load generator runs in a worker thread so it does not share the server's event loop.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { LocalEventBus } from '../shared/adapters/local/event-bus.ts';
import { startIngestServer } from '../shared/adapters/local/ingest-server.ts';
import { MemoryIdempotencyStore, systemClock } from '../shared/adapters/local/memory.ts';
import { ingestWebhook } from '../shared/core/ingest.ts';
import { closedLoop, closeLoadAgent, percentile, signedPushes } from './lib/load.ts';
import { emit, note } from './lib/report.ts';

const CONCURRENCY = Number(process.env.BENCH_INGEST_CONCURRENCY ?? 16);
const DURATION_MS = Number(process.env.BENCH_INGEST_MS ?? 5000);
const SECRET = `bench-${randomUUID()}`;

interface WorkerInput {
  url: string;
  secret: string;
  concurrency: number;
  durationMs: number;
}

const loadWorker = async ({ url, secret, concurrency, durationMs }: WorkerInput) => {
  // Enough pre-signed requests that none is sent twice (a duplicate would be answered cheaper).
  const requests = signedPushes(Math.ceil((durationMs / 1000) * 20_000), secret);
  await closedLoop(url, requests.slice(0, 500), concurrency, 500); // warm-up
  const { samples, elapsedMs } = await closedLoop(url, requests.slice(500), concurrency, durationMs);
  closeLoadAgent();
  parentPort!.postMessage({ samples: samples.map((s) => [s.status, s.latencyMs]), elapsedMs });
};

const hmacPerSecond = (body: Buffer): number => {
  const started = performance.now();
  let n = 0;
  while (performance.now() - started < 1000) {
    for (let i = 0; i < 100; i++) createHmac('sha256', SECRET).update(body).digest('hex');
    n += 100;
  }
  return n / ((performance.now() - started) / 1000);
};

const main = async () => {
  const bus = new LocalEventBus();
  const deliveries = new MemoryIdempotencyStore();
  const server = await startIngestServer({
    port: 0,
    ingest: (request) =>
      ingestWebhook(
        { bus, deliveries, clock: systemClock, webhookSecrets: async () => [SECRET], newTraceId: randomUUID },
        request,
      ),
  });
  note(`ingest: ${CONCURRENCY} in flight for ${DURATION_MS} ms`);
  const worker = new Worker(new URL(import.meta.url), {
    workerData: {
      url: `${server.url}/webhooks/github`,
      secret: SECRET,
      concurrency: CONCURRENCY,
      durationMs: DURATION_MS,
    } satisfies WorkerInput,
  });
  const result = await new Promise<{ samples: [number, number][]; elapsedMs: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await server.close();
  const accepted = result.samples.filter(([status]) => status === 202);
  const latencies = accepted.map(([, ms]) => ms);
  const perSecond = accepted.length / (result.elapsedMs / 1000);
  const body = signedPushes(1, SECRET)[0]!.body;
  const hmac = hmacPerSecond(body);
  const common = {
    bench: 'ingest' as const,
    concurrency: CONCURRENCY,
    requests: result.samples.length,
    accepted: accepted.length,
    published: bus.events.length - 500,
    bodyBytes: body.byteLength,
  };
  emit({
    ...common,
    figure: 'throughput',
    value: perSecond,
    unit: 'webhooks/s',
    comparison: 'HMAC-SHA256 of the same body alone, one thread',
    comparisonValue: hmac,
  });
  emit({
    ...common,
    figure: 'latency-p50',
    value: percentile(latencies, 50),
    unit: 'ms',
    comparison: 'p99',
    comparisonValue: percentile(latencies, 99),
    p99: percentile(latencies, 99),
    hmacUs: 1e6 / hmac,
  });
};

if (isMainThread) await main();
else await loadWorker(workerData as WorkerInput);
