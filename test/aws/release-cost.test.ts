/**
 * What one release costs in AWS calls: one push through `sluice dev --aws` with every AWS call
 * going through a counting proxy in front of the emulator (a real HTTP hop, no client mock). The
 * service comes from the SigV4 credential scope, the operation from X-Amz-Target (JSON protocols)
 * or the method and path (S3). ReceiveMessage calls are split into those that returned messages
 * (one Lambda invocation each on AWS, batch size 1 at this traffic) and empty long polls (on AWS
 * the Lambda pollers' idle cost, counted apart in docs/cost.md). Prints one JSON line; docs/cost.md
 * turns it into dollars.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAwsDev } from '../../cli/commands/dev.ts';
import { helloConfigMap, SEED_TARGET, writeSeedFleet } from '../support/emulator-deploy.ts';
import { waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const git = (cwd: string, ...args: string[]) =>
  run('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', ...args], { cwd });

/** `service:operation` → calls, counted while `counting` is on. */
interface Counter {
  readonly calls: Map<string, number>;
  counting: boolean;
}

const operationOf = (method: string, url: string, headers: Record<string, unknown>): string => {
  const scope =
    /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(String(headers.authorization ?? ''))?.[1] ?? 'unknown';
  const target = headers['x-amz-target'];
  if (typeof target === 'string') return `${scope}:${target.split('.').at(-1)}`;
  const action = /[?&]Action=([A-Za-z]+)/.exec(url)?.[1];
  if (action) return `${scope}:${action}`;
  if (scope === 's3') {
    const [, , key] = url.split('?')[0]!.split('/');
    const listing = url.includes('list-type') || key === undefined || key === '';
    return `s3:${method === 'GET' && listing ? 'List' : method}`;
  }
  return `${scope}:${method}`;
};

/** A pass-through proxy to the emulator that counts each AWS operation. */
const countingProxy = async (upstream: URL, counter: Counter): Promise<Server> => {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const queue = /"QueueUrl"\s*:\s*"[^"]*\/([^/"]+)"/.exec(Buffer.concat(chunks).toString('utf8'))?.[1];
      const operation = `${operationOf(req.method ?? 'GET', req.url ?? '/', req.headers)}${queue ? ` ${queue.replace(/-[a-z0-9]+-[0-9a-f]{6}/, '')}` : ''}`;
      const forward = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (upstreamRes) => {
          const body: Buffer[] = [];
          upstreamRes.on('data', (c: Buffer) => body.push(c));
          upstreamRes.on('end', () => {
            const text = Buffer.concat(body);
            if (counter.counting) {
              let name = operation;
              if (operation.includes(':ReceiveMessage')) {
                name += /"Messages"\s*:\s*\[\s*\{|<Message>/.test(text.toString('utf8'))
                  ? ' (messages)'
                  : ' (empty)';
              }
              counter.calls.set(name, (counter.calls.get(name) ?? 0) + 1);
            }
            res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
            res.end(text);
          });
        },
      );
      forward.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return server;
};

describe('one release on the emulator, call by call', () => {
  let work: string;
  let proxy: Server;
  let dev: Awaited<ReturnType<typeof startAwsDev>>;
  const counter: Counter = { calls: new Map(), counting: false };

  beforeAll(async () => {
    proxy = await countingProxy(new URL(inject('awsEndpoint')), counter);
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    process.env.AWS_REGION = inject('awsRegion');
    work = await mkdtemp(join(tmpdir(), 'sluice-release-cost-'));
    await writeSeedFleet(join(work, 'seed'));
    dev = await startAwsDev(
      {
        workdir: join(work, '.sluice'),
        port: 0,
        gitPort: 0,
        seed: join(work, 'seed'),
        coalesceMs: 1000,
        reconcileSeconds: 300,
        quiet: true,
      },
      () => undefined,
    );
  }, 120_000);

  afterAll(async () => {
    await dev?.stop();
    await new Promise((closed) => proxy?.close(closed));
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it('counts the EventBridge, SQS, S3 and Secrets Manager calls of one push to Healthy', async () => {
    // GIVEN the seed commit deployed
    const clone = join(work, 'clone');
    await git(work, 'clone', dev.gitUrl, clone);
    const seed = (await git(clone, 'rev-parse', 'HEAD')).stdout.trim();
    const healthy = (commit: string) => async () => {
      const record = await dev.pipeline.ledger.getDeployment('hello', SEED_TARGET);
      return record?.commit === commit && record.state === 'Healthy' ? record : undefined;
    };
    await waitFor('seed Healthy', healthy(seed), 60_000);
    // While counting, the test watches the target directory, not the ledger: its own reads would count.
    const applied = join(work, '.sluice', 'targets', SEED_TARGET, 'hello', 'configmap.hello.yaml');
    await new Promise((settled) => setTimeout(settled, 3_000));

    // WHEN one change is pushed and deployed, counting every AWS call until the pipeline is quiet
    await writeFile(join(clone, 'apps', 'hello', 'configmap.yaml'), helloConfigMap('counted'));
    await git(clone, 'commit', '-am', 'counted release');
    counter.counting = true;
    await git(clone, 'push', 'origin', 'HEAD:main');
    const pushed = (await git(clone, 'rev-parse', 'HEAD')).stdout.trim();
    await waitFor(
      'the change applied',
      async () => ((await readFile(applied, 'utf8')).includes('counted') ? true : undefined),
      60_000,
    );
    // The agent's outcome, report's ledger write and the events queue drain after the apply.
    await new Promise((settled) => setTimeout(settled, 8_000));
    counter.counting = false;
    await waitFor('pushed commit Healthy', healthy(pushed), 30_000);

    // THEN the release went through the bus, the queues and the bucket
    const calls = Object.fromEntries([...counter.calls.entries()].sort());
    console.log(JSON.stringify({ metric: 'release-aws-calls', commit: pushed.slice(0, 7), calls }));
    const sum = (prefix: string) =>
      Object.entries(calls)
        .filter(([k]) => k.startsWith(prefix))
        .reduce((n, [, v]) => n + v, 0);
    expect(sum('events:PutEvents')).toBeGreaterThan(0);
    expect(sum('sqs:SendMessage')).toBeGreaterThan(0);
    expect(Object.keys(calls).some((k) => k.includes('ReceiveMessage') && k.endsWith('(messages)'))).toBe(
      true,
    );
    expect(sum('s3:PUT')).toBeGreaterThan(0);
  }, 180_000);
});
