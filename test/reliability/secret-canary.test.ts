import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configMap, smallRepo } from '../../bench/lib/fixtures.ts';
import { type Fleet, startFleet } from '../../bench/lib/fleet.ts';
import { MemorySecretStore } from '../../shared/adapters/local/memory.ts';
import { sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import { convergedToHeads } from './support.ts';

const WEBHOOK_CANARY = 'canary-webhook-7f3a9c1e5d';
const SECRET_CANARY = 'canary-db-password-b84e2f06';
const secretManifest = (ref: string) => `apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  url: ${ref}
`;

const filesUnder = async (dir: string): Promise<string[]> => {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(path.join(entry.parentPath, entry.name));
  }
  return out;
};

describe('secret canary', () => {
  let fleet: Fleet;
  const output: string[] = [];
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const answers: string[] = [];

  beforeAll(async () => {
    // Capture everything this process prints, Powertools' JSON log lines included.
    const capture =
      (original: typeof process.stdout.write) =>
      (chunk: unknown, ...rest: unknown[]): boolean => {
        output.push(String(chunk));
        return (original as (c: unknown, ...r: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
      };
    process.stdout.write = capture(writes.out) as typeof process.stdout.write;
    process.stderr.write = capture(writes.err) as typeof process.stderr.write;
    fleet = await startFleet({
      repos: { r0: smallRepo(0, 2, { 'apps/app-0/secret.yaml': secretManifest('aws-sm://db#url') }) },
      webhookSecret: WEBHOOK_CANARY,
      secrets: new MemorySecretStore({ 'aws-sm://db#url': SECRET_CANARY }),
      logger: new Logger({ serviceName: 'sluice-canary', logLevel: 'DEBUG' }),
    });
  });
  afterAll(async () => {
    await fleet?.stop();
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
  });

  it('never lets a secret value reach an event, a log line, a bundle, the ledger or an error', async () => {
    // GIVEN a full run: the seed deploys a Secret whose reference the agent resolves
    await convergedToHeads(fleet, { r0: 2 });
    // WHEN a push follows, one that references a secret that does not exist (an error path),
    await fleet.commit('r0', { 'apps/app-0/secret.yaml': secretManifest('aws-sm://missing#url') });
    await fleet.pipeline.idle();
    // AND a webhook signed with a wrong secret and a poison message arrive
    const forged = await sendWebhook({
      url: fleet.webhookUrl,
      secret: `${WEBHOOK_CANARY}-wrong`,
      event: 'push',
      payload: { ref: 'refs/heads/main' },
    });
    answers.push(JSON.stringify(forged.body));
    fleet.pipeline.queues.get('sluice-plan.fifo')?.send([{ body: WEBHOOK_CANARY.slice(0, 3), groupId: 'x' }]);
    // AND the reference is fixed again
    await fleet.commit('r0', {
      'apps/app-0/secret.yaml': secretManifest('aws-sm://db#url'),
      'apps/app-0/configmap.yaml': configMap('app-0', 'v2'),
    });
    await convergedToHeads(fleet, { r0: 2 });

    // THEN the value really was applied to the targets (so the search below can find it)
    const targets = await filesUnder(path.join(fleet.workdir, 'targets'));
    const applied = await Promise.all(targets.map((f) => readFile(f, 'utf8')));
    expect(applied.some((text) => text.includes(SECRET_CANARY))).toBe(true);
    // AND a failure was reported for the missing reference, naming the reference only
    const failed = fleet.events('Deployment Failed');
    expect(failed.length).toBeGreaterThan(0);
    // AND neither canary appears anywhere else: events (in memory and on disk), the ledger,
    // bundles, dead-letter reasons, HTTP answers and everything printed
    const state = (await filesUnder(fleet.workdir)).filter(
      (f) =>
        !targets.includes(f) &&
        !f.includes(`${path.sep}git${path.sep}`) &&
        !f.includes(`${path.sep}cache${path.sep}`),
    );
    const haystacks = [
      JSON.stringify(fleet.events()),
      ...(await Promise.all(state.map((f) => readFile(f, 'utf8')))),
      ...[...fleet.pipeline.deadLetters.values()].flatMap((q) =>
        q.peek().map((m) => JSON.stringify(m.attributes)),
      ),
      ...answers,
      output.join(''),
    ];
    expect(state.some((f) => f.endsWith('ledger.json'))).toBe(true);
    expect(state.some((f) => f.includes(`${path.sep}bundles${path.sep}`))).toBe(true);
    for (const canary of [WEBHOOK_CANARY, SECRET_CANARY]) {
      expect(haystacks.filter((h) => h.includes(canary))).toEqual([]);
    }
  });
});
