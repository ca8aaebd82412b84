/**
 * cost: what a release of 1 app to 10 targets costs on AWS, from counted calls. `sluice dev --aws`
 * runs the same stages and adapters as the Lambdas against LocalStack; an AWS SDK middleware on
 * every client counts each call (service, operation, EventBridge entries) from the push until
 * every target is Healthy and the queues are drained, and the host reports every handler
 * invocation with its wall time, which is priced as Lambda duration at the memory and
 * architecture the stacks give that function (the emulator's latency stands in for AWS's).
 * Calls are priced at us-east-1 list prices.
 *
 * The clusters are directories whose rollouts take ROLLOUT_WAIT_S to become healthy (each object
 * reports Ready=False until then): the load model of a real rollout. The figure is today's
 * design — the agent applies, looks once and re-checks from delayed messages on its health queue
 * — beside, in the same run, the design before it: the agent waiting in the function for health.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@smithy/core/client';
import { directoryClusters } from '../cli/runtime/host.ts';
import type { ClusterClient, KubeObject, LiveObject } from '../shared/ports/index.ts';
import { startAwsFleet } from './lib/aws-fleet.ts';
import { configMap, fanoutRepo } from './lib/fixtures.ts';
import { allHealthyAt, until, writeCommits } from './lib/fleet.ts';
import { emit, note } from './lib/report.ts';

const TARGETS = Number(process.env.BENCH_COST_TARGETS ?? 10);
const RELEASES = Number(process.env.BENCH_COST_RELEASES ?? 3);
/** How long a rollout takes to become healthy (the agent waited this long in the old design). */
const ROLLOUT_WAIT_S = Number(process.env.BENCH_COST_ROLLOUT_WAIT_S ?? 30);

/** us-east-1 list prices, USD per call (December 2026). */
const PRICE = {
  sqs: 0.4 / 1e6,
  sqsFifo: 0.5 / 1e6,
  eventsEntry: 1 / 1e6,
  s3Write: 0.005 / 1000,
  s3Read: 0.0004 / 1000,
  secrets: 0.05 / 10_000,
  kms: 0.03 / 10_000,
  dynamodbWrite: 0.625 / 1e6,
  dynamodbRead: 0.125 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  lambdaArmGbS: 0.0000133334,
  lambdaX86GbS: 0.0000166667,
  apiRequest: 1 / 1e6,
  xrayTrace: 5 / 1e6,
} as const;

/** Per function: memory (GB) and architecture, as infra/ sizes them (render runs the x86 kubectl layer). */
const MEMORY: Record<string, { gb: number; x86?: boolean }> = {
  plan: { gb: 1 },
  render: { gb: 2, x86: true },
  rollback: { gb: 1 },
  reconcile: { gb: 1 },
  other: { gb: 0.5 },
};

/** The function an invocation of the host's queue loop `name` is on AWS. */
const functionOf = (name: string): string =>
  name.startsWith('agent-') ? (name.endsWith('-health') ? 'agent (re-check)' : 'agent') : name;

/** `service:operation` → count; `lambda:<fn>` → invocations; `records:<fn>` → records handled. */
const counts = new Map<string, number>();
let counting = false;
const own = new AsyncLocalStorage<true>();
const add = (key: string, n = 1) => counts.set(key, (counts.get(key) ?? 0) + n);

/** The counting middleware, added once to every SDK client the first time it sends. */
const instrumented = new WeakSet<object>();
const send = Client.prototype.send;
Client.prototype.send = function (this: Client<never, never, never, never>, ...args: never[]) {
  if (!instrumented.has(this)) {
    instrumented.add(this);
    this.middlewareStack.add(
      (next, context) => async (call) => {
        const result = await next(call);
        if (!counting || own.getStore()) return result;
        const service = String(context.clientName ?? 'unknown').replace(/Client$/, '');
        const operation = String(context.commandName ?? 'unknown').replace(/Command$/, '');
        const input = call.input as { QueueUrl?: string; Entries?: unknown[] };
        const fifo = input.QueueUrl?.endsWith('.fifo') ? ' (FIFO)' : '';
        add(`${service}:${operation}${fifo}`);
        // Where S3 calls go (ledger, bundles, history…) and which queue feeds an `other` function.
        const { Key } = call.input as { Key?: string };
        if (service === 'S3' && Key) add(`where:S3 ${operation} ${Key.split('/')[0]}`);
        if (service === 'EventBridge' && operation === 'PutEvents')
          add('EventBridge:entries', input.Entries?.length ?? 1);
        if (operation === 'ReceiveMessage') {
          const messages =
            (result.output as { Messages?: { Body?: string; Attributes?: Record<string, string> }[] })
              .Messages ?? [];
          if (messages.length === 0) add(`${service}:${operation}${fifo} (empty)`);
          // What EventBridge rules delivered (an envelope, received for the first time): SQS bills
          // the queue owner for those sends too, though no client of ours made them.
          for (const m of messages) {
            if (m.Attributes?.ApproximateReceiveCount === '1' && m.Body?.includes('"detail-type"'))
              add('SQS:SendMessage (by EventBridge)');
          }
        }
        return result;
      },
      { step: 'initialize', name: 'sluiceBenchCallCounter' },
    );
  }
  return send.apply(this, args as never);
} as typeof send;

const priceCalls = (c: Map<string, number>): Record<string, number> => {
  const usd: Record<string, number> = {};
  const put = (service: string, v: number) => {
    usd[service] = (usd[service] ?? 0) + v;
  };
  for (const [key, n] of c) {
    if (key.endsWith('(empty)')) continue; // idle long polls: the always-on cost (docs/cost.md)
    const [service = '', op = ''] = key.split(':');
    if (service === 'SQS') put('SQS', n * (op.includes('FIFO') ? PRICE.sqsFifo : PRICE.sqs));
    else if (service === 'EventBridge' && op === 'entries') put('EventBridge', n * PRICE.eventsEntry);
    else if (service === 'S3')
      put('S3', n * (/^(Put|Copy|List|CreateMultipart|Post)/.test(op) ? PRICE.s3Write : PRICE.s3Read));
    else if (service === 'SecretsManager') put('Secrets Manager', n * PRICE.secrets);
    else if (service === 'KMS') put('KMS', n * PRICE.kms);
    else if (service === 'DynamoDB')
      put(
        'DynamoDB',
        n *
          (/^(Put|Update|Delete|BatchWrite|TransactWrite)/.test(op)
            ? PRICE.dynamodbWrite
            : PRICE.dynamodbRead),
      );
    else if (service === 'lambda') put('Lambda requests', n * PRICE.lambdaRequest);
    else if (!['EventBridge', 'records', 'where', 'ApiGateway', 'ms'].includes(service))
      put(`${service} (unpriced)`, 0);
  }
  return usd;
};

/** Lambda duration: every invocation's wall time, billed per ms, at its function's memory. */
const priceCompute = (c: Map<string, number>): number => {
  let usd = 0;
  for (const [key, ms] of c) {
    if (!key.startsWith('ms:')) continue;
    const fn = key.slice(3).replace(/ \(re-check\)$/, '');
    const m = MEMORY[fn] ?? MEMORY.other!;
    usd += (ms / 1000) * m.gb * (m.x86 ? PRICE.lambdaX86GbS : PRICE.lambdaArmGbS);
  }
  return usd;
};

/**
 * Directory clusters whose rollouts take `waitMs`: after an apply, every object of that target
 * reads back with Ready=False until `waitMs` passed, as a Deployment rolling out would.
 */
const rollingOut = (root: string, waitMs: number) => {
  const inner = directoryClusters(root);
  const appliedAt = new Map<string, number>();
  return (target: string): ClusterClient => {
    const cluster = inner(target);
    return new Proxy(cluster, {
      get(on, prop, receiver) {
        if (prop === 'apply') {
          return async (...args: Parameters<ClusterClient['apply']>) => {
            const result = await on.apply(...args);
            appliedAt.set(target, Date.now());
            return result;
          };
        }
        if (prop === 'readLive') {
          return async (objects: readonly KubeObject[]): Promise<LiveObject[]> => {
            const ready = Date.now() - (appliedAt.get(target) ?? 0) >= waitMs ? 'True' : 'False';
            return objects.map((o) => ({
              ...o,
              status: { conditions: [{ type: 'Ready', status: ready, reason: 'RollingOut' }] },
            })) as LiveObject[];
          };
        }
        const value = Reflect.get(on, prop, receiver);
        return typeof value === 'function' ? value.bind(on) : value;
      },
    });
  };
};

/** Releases of 1 app × TARGETS through `sluice dev --aws`; the calls and invocations of one, averaged. */
const measure = async (waitForHealth: boolean): Promise<Map<string, number>> => {
  counts.clear();
  const root = await mkdtemp(path.join(tmpdir(), 'sluice-cost-targets-'));
  const fleet = await startAwsFleet(fanoutRepo(TARGETS, 1), {
    freePort: true,
    host: {
      cluster: rollingOut(root, ROLLOUT_WAIT_S * 1000),
      waitForHealth,
      onInvocation: (name, ms) => {
        if (!counting || name === 'events') return;
        add(`lambda:${functionOf(name)}`);
        // Lambda bills whole milliseconds, at least one.
        add(`ms:${functionOf(name)}`, Math.max(1, Math.ceil(ms)));
      },
    },
  });
  let stopping: Promise<void> = Promise.resolve();
  try {
    const { pipeline } = fleet.dev;
    const healthy = (sha: string) => own.run(true, () => allHealthyAt(pipeline, 'fleet', sha, TARGETS));
    const seed = await fleet.head();
    await until('seed healthy', () => healthy(seed), 240_000);
    await new Promise((r) => setTimeout(r, 3000));
    const commits = await writeCommits(
      fleet.gitDir,
      seed,
      Array.from({ length: RELEASES }, (_, n) => ({
        files: { 'apps/edge/base/configmap.yaml': configMap('edge', `cost-${n + 1}`) },
        message: `cost ${n + 1}`,
      })),
    );
    for (const sha of commits) {
      counting = true;
      add('ApiGateway:ingest'); // the webhook: one HTTP API request and one ingest invocation
      add('lambda:ingest');
      // The webhook's round trip (moving the branch, then ingest answering) stands for ingest's duration.
      const pushed = performance.now();
      await own.run(true, () => fleet.push(sha));
      add('ms:ingest', Math.ceil(performance.now() - pushed));
      await until(`Healthy at ${sha.slice(0, 7)}`, () => healthy(sha), 240_000);
      // The last outcomes, the report's ledger writes and the queues drain after Healthy.
      await new Promise((r) => setTimeout(r, 8000));
      counting = false;
    }
    return new Map([...counts].map(([k, v]) => [k, v / RELEASES]));
  } catch (error) {
    note(`cost: failed: ${(error as Error).stack}`);
    throw error;
  } finally {
    stopping = fleet.stop();
    await Promise.race([stopping, new Promise((r) => setTimeout(r, 30_000).unref())]);
    await rm(root, { recursive: true, force: true });
  }
};

/** $ per release of the counted calls and invocations, by service. */
const price = (perRelease: Map<string, number>) => {
  const calls = priceCalls(perRelease);
  calls['API Gateway'] = (perRelease.get('ApiGateway:ingest') ?? 0) * PRICE.apiRequest;
  calls['X-Ray (sampled 1 trace per release)'] = PRICE.xrayTrace;
  calls['Lambda duration'] = priceCompute(perRelease);
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  const invocations = [...perRelease].filter(([k]) => k.startsWith('lambda:')).reduce((n, [, v]) => n + v, 0);
  return { calls, total, invocations };
};

note(
  `cost: ${RELEASES} releases of 1 app × ${TARGETS} targets through sluice dev --aws on LocalStack, rollouts taking ${ROLLOUT_WAIT_S} s; health re-checked from the health queue, then (comparison) the agent waiting`,
);
const rechecked = await measure(false);
const waited = await measure(true);
const now = price(rechecked);
const before = price(waited);
for (const [label, perRelease, priced] of [
  ['re-checks', rechecked, now],
  ['waiting', waited, before],
] as const) {
  note(`cost (${label}): calls per release ${JSON.stringify(Object.fromEntries([...perRelease].sort()))}`);
  note(
    `cost (${label}): $ per 1,000 releases by service ${JSON.stringify(Object.fromEntries(Object.entries(priced.calls).map(([k, v]) => [k, Math.round(v * 1e6) / 1000])))}; Lambda invocations ${priced.invocations}`,
  );
}
emit({
  bench: 'cost',
  figure: 'usd-per-1000-releases',
  value: now.total * 1000,
  unit: `USD per 1,000 releases (1 app × ${TARGETS} targets, rollouts of ${ROLLOUT_WAIT_S} s)`,
  comparison: 'the same releases with the agent waiting in the function for health',
  comparisonValue: before.total * 1000,
  goal: 0.5,
  targets: TARGETS,
  releasesCounted: RELEASES,
  rolloutSeconds: ROLLOUT_WAIT_S,
  callsPerRelease: Object.fromEntries([...rechecked].sort()),
  usdPerReleaseByService: now.calls,
  comparisonUsdPerReleaseByService: before.calls,
});
process.exit(0);
