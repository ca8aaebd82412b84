/**
 * Issue 11, item 7: one app's poisoned content fails that app alone. A commit carrying an alias
 * bomb in one app and changes to two others: the two reach Healthy, the poisoned app gets
 * Render Failed naming its file, no dead-letter queue holds anything, the next push renders it
 * again even though it touches only another app, and the push that fixes it deploys it.
 * Through `sluice dev` in process: real git over HTTP, signed webhooks, the real render tools,
 * directory targets.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_FLEET, startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';
import { aliasBomb } from './render-support.ts';

const healthyAt = (record: { commit: string; state: string } | undefined, sha: string) =>
  record?.commit === sha && record.state === 'Healthy' ? true : undefined;

describe('a poisoned app in a commit (sluice dev)', () => {
  let t: TestDev;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 100 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('fails only the poisoned app; the others of the commit deploy and nothing is dead-lettered', async () => {
    // GIVEN a commit with an alias bomb in guestbook and real changes to metrics-agent and api
    const daemonset = (
      await readFile(path.join(EXAMPLE_FLEET, 'apps/metrics-agent/daemonset.yaml'), 'utf8')
    ).replace(
      'app.kubernetes.io/name: metrics-agent\nspec:',
      'app.kubernetes.io/name: metrics-agent\n    poison-test: "1"\nspec:',
    );
    expect(daemonset).toContain('poison-test');
    const service = (await readFile(path.join(EXAMPLE_FLEET, 'apps/api/base/service.yaml'), 'utf8')).replace(
      'metadata:\n',
      'metadata:\n  annotations: { poison-test: "1" }\n',
    );
    // WHEN it is pushed
    const sha = await t.push(
      {
        'apps/guestbook/configmap.yaml': aliasBomb('guestbook-config'),
        'apps/metrics-agent/daemonset.yaml': daemonset,
        'apps/api/base/service.yaml': service,
      },
      'one poisoned app, two good ones',
    );
    // THEN the good apps reach Healthy at that commit
    const ledger = t.dev.pipeline.ledger;
    await waitFor('metrics-agent healthy', async () =>
      healthyAt(await ledger.getDeployment('metrics-agent', 'onprem-fra1'), sha),
    );
    await waitFor('api healthy', async () => healthyAt(await ledger.getDeployment('api', 'prod-use1'), sha));
    // AND guestbook has Render Failed naming the file
    const failed = await waitFor('Render Failed', () =>
      t.events('Render Failed').find((e) => (e.detail as { commit: string }).commit === sha),
    );
    const detail = failed.detail as { app: string; error: { message: string } };
    expect(detail.app).toBe('guestbook');
    expect(detail.error.message).toMatch(/^apps\/guestbook\/configmap\.yaml: cannot be read as YAML/);
    await t.dev.pipeline.idle();
    // AND its targets keep their last release, and no dead-letter queue holds anything
    expect((await ledger.getDeployment('guestbook', 'staging-use1'))?.commit).not.toBe(sha);
    for (const [name, queue] of t.dev.pipeline.deadLetters) expect([name, queue.peek()]).toEqual([name, []]);

    // WHEN the next push touches only another app
    const unrelated = await t.push(
      { 'apps/metrics-agent/daemonset.yaml': daemonset.replace('poison-test: "1"', 'poison-test: "2"') },
      'touch only metrics-agent',
    );
    // THEN guestbook's never-released change is not skipped: it is rendered again (and fails again)
    const again = await waitFor('guestbook rendered again', () =>
      t.events('Render Failed').find((e) => (e.detail as { commit: string }).commit === unrelated),
    );
    expect((again.detail as { app: string }).app).toBe('guestbook');
    await waitFor('metrics-agent healthy', async () =>
      healthyAt(await ledger.getDeployment('metrics-agent', 'onprem-fra1'), unrelated),
    );

    // WHEN the app is fixed in the next push THEN it deploys
    const original = await readFile(path.join(EXAMPLE_FLEET, 'apps/guestbook/configmap.yaml'), 'utf8');
    const fix = await t.push({ 'apps/guestbook/configmap.yaml': original }, 'fix guestbook');
    await waitFor('guestbook healthy after the fix', async () =>
      healthyAt(await ledger.getDeployment('guestbook', 'staging-use1'), fix),
    );
  });
});
