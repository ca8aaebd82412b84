/**
 * cost: what a release of 1 app to 10 targets costs on AWS, from counted calls. `sluice dev --aws`
 * runs the same stages and adapters as the Lambdas against LocalStack; an AWS SDK middleware on
 * every client counts each call (service, operation, EventBridge entries, and whether a
 * ReceiveMessage returned messages) from the push until every target is Healthy and the queues
 * are drained. Calls are priced at us-east-1 list prices; each ReceiveMessage that returned
 * messages is one Lambda invocation on AWS, priced with the durations in DURATIONS (assumptions,
 * docs/cost.md: the emulator runs the handlers in one process, so their AWS duration is not
 * measured here). The Lambda agent of this tree still waits for rollout health in the function
 * (ROLLOUT_WAIT_S per target, billed): that is the figure. Beside it, the same counted calls with
 * the agent applying and leaving health to a scheduled re-check (≈ 2 s per target): a projection
 * of the lever docs/cost.md names, not a measured design.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Client } from '@smithy/core/client';
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

/** Per function: seconds per invocation, memory (GB), x86 or ARM (docs/cost.md's assumptions). */
const DURATIONS: Record<string, { s: number; gb: number; x86?: boolean }> = {
  ingest: { s: 0.2, gb: 0.5 },
  plan: { s: 2, gb: 1 },
  render: { s: 5, gb: 2, x86: true },
  dispatch: { s: 0.5, gb: 0.5 },
  report: { s: 0.5, gb: 0.5 },
  agent: { s: 2, gb: 0.5 },
  other: { s: 0.5, gb: 0.5 },
};

/** `service:operation` → count; `lambda:<fn>` → invocations; `records:<fn>` → records handled. */
const counts = new Map<string, number>();
let counting = false;
const own = new AsyncLocalStorage<true>();
const add = (key: string, n = 1) => counts.set(key, (counts.get(key) ?? 0) + n);

const functionOf = (queueUrl: string): string => {
  const name = queueUrl.split('/').at(-1) ?? '';
  for (const fn of ['plan', 'render', 'dispatch', 'report', 'agent']) if (name.includes(`-${fn}`)) return fn;
  return 'other';
};

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
          const messages = (result.output as { Messages?: unknown[] }).Messages?.length ?? 0;
          if (messages > 0) {
            add(`lambda:${functionOf(input.QueueUrl ?? '')}`);
            add(`where:queue ${(input.QueueUrl ?? '').split('/').at(-1)}`);
            add(`records:${functionOf(input.QueueUrl ?? '')}`, messages);
          } else add(`${service}:${operation}${fifo} (empty)`);
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
    else if (!['EventBridge', 'records', 'where', 'ApiGateway'].includes(service))
      put(`${service} (unpriced)`, 0);
  }
  return usd;
};

/** Lambda duration of the counted invocations; the agent's per record, plus `waitS` each. */
const priceCompute = (c: Map<string, number>, waitS: number): number => {
  let usd = 0;
  for (const [key, n] of c) {
    const [kind, fn = 'other'] = key.split(':');
    const d = DURATIONS[fn] ?? DURATIONS.other!;
    const rate = d.x86 ? PRICE.lambdaX86GbS : PRICE.lambdaArmGbS;
    // The agent handles a FIFO batch one record at a time: its time is per record, not per batch.
    if (fn === 'agent' ? kind === 'records' : kind === 'lambda')
      usd += n * (d.s + (fn === 'agent' ? waitS : 0)) * d.gb * rate;
  }
  return usd;
};

note(`cost: ${RELEASES} releases of 1 app × ${TARGETS} targets through sluice dev --aws on LocalStack`);
const fleet = await startAwsFleet(fanoutRepo(TARGETS, 1), { freePort: true });
let stopping: Promise<void> = Promise.resolve();
let perRelease = new Map<string, number>();
try {
  const { pipeline } = fleet.dev;
  const healthy = (sha: string) => own.run(true, () => allHealthyAt(pipeline, 'fleet', sha, TARGETS));
  const seed = await fleet.head();
  await until('seed healthy', () => healthy(seed), 180_000);
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
    await own.run(true, () => fleet.push(sha));
    await until(`Healthy at ${sha.slice(0, 7)}`, () => healthy(sha), 180_000);
    // The last outcomes, the report's ledger writes and the queues drain after Healthy.
    await new Promise((r) => setTimeout(r, 8000));
    counting = false;
  }
  perRelease = new Map([...counts].map(([k, v]) => [k, v / RELEASES]));
} catch (error) {
  note(`cost: failed: ${(error as Error).stack}`);
  throw error;
} finally {
  // The emulator is stopped after the figure is printed (below): its shutdown can outlive the loop.
  stopping = fleet.stop();
}

const calls = priceCalls(perRelease);
calls['API Gateway'] = (perRelease.get('ApiGateway:ingest') ?? 0) * PRICE.apiRequest;
const invocations = [...perRelease].filter(([k]) => k.startsWith('lambda:')).reduce((n, [, v]) => n + v, 0);
calls['X-Ray (sampled 1 trace per release)'] = PRICE.xrayTrace;
const callsUsd = Object.values(calls).reduce((a, b) => a + b, 0);
const now = callsUsd + priceCompute(perRelease, 0);
const waiting = callsUsd + priceCompute(perRelease, ROLLOUT_WAIT_S);
note(`cost: calls per release ${JSON.stringify(Object.fromEntries([...perRelease].sort()))}`);
note(`cost: $ per release by service ${JSON.stringify(calls)}; Lambda invocations ${invocations}`);
emit({
  bench: 'cost',
  figure: 'usd-per-1000-releases',
  value: waiting * 1000,
  unit: `USD per 1,000 releases (1 app × ${TARGETS} targets)`,
  comparison: `projection: the same calls, the agent not waiting ${ROLLOUT_WAIT_S} s per target for health (not built)`,
  comparisonValue: now * 1000,
  goal: 0.5,
  targets: TARGETS,
  releasesCounted: RELEASES,
  callsPerRelease: Object.fromEntries([...perRelease].sort()),
  usdPerReleaseByService: calls,
});
await Promise.race([stopping, new Promise((r) => setTimeout(r, 30_000).unref())]);
process.exit(0);
