import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubPushPayload, sendWebhook } from '../../shared/adapters/local/push-webhook.ts';
import { signGithub } from '../../shared/core/webhooks/signature.ts';
import type { ApplyRequested } from '../../shared/schemas/events.ts';
import { EXAMPLE_FLEET, startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';

const configmap = (title: string) =>
  `apiVersion: v1
kind: ConfigMap
metadata:
  name: guestbook-config
  labels:
    app.kubernetes.io/name: guestbook
data:
  GUESTBOOK_TITLE: ${title}
  REDIS_HOST: redis.guestbook.svc.cluster.local
`;
const CONFIGMAP_PATH = 'apps/guestbook/configmap.yaml';
const targetFile = (t: TestDev, target: string, file: string) =>
  path.join(t.dev.pipeline.targetDir(target), file);
/** True once the record is Healthy at `sha` (Pending at `sha` comes first, from dispatch). */
const healthyAt = (record: { commit: string; state: string } | undefined, sha: string) =>
  record?.commit === sha && record.state === 'Healthy' ? true : undefined;
const deployed = async (t: TestDev, app: string, target: string) =>
  t.dev.pipeline.ledger.getDeployment(app, target);

describe('sluice dev pipeline (real git over HTTP, signed webhooks, directory targets)', () => {
  let t: TestDev;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 200 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('deploys the seed commit to every selected target on start', async () => {
    // GIVEN a fresh `sluice dev` WHEN it starts THEN every (app, target) the fleet selects is Healthy
    const records = await t.dev.pipeline.ledger.listDeployments();
    const pairs = records.map((r) => `${r.app}@${r.target}`);
    expect(pairs).toContain('guestbook@staging-use1');
    expect(pairs).toContain('api@prod-use1');
    expect(pairs).toContain('metrics-agent@onprem-fra1');
    expect(pairs).not.toContain('guestbook@prod-use1');
    expect(records.every((r) => r.state === 'Healthy')).toBe(true);
    // AND the secret reference was resolved into the target only
    const secret = await readFile(targetFile(t, 'prod-use1', 'api/secret.api-db.yaml'), 'utf8');
    expect(secret).toContain('local-dev-only');
  });

  it("deploys a pushed change to the changed app's targets only", async () => {
    // GIVEN the deployed fleet
    const before = await deployed(t, 'api', 'prod-use1');
    // WHEN a change to guestbook is pushed with the git CLI
    const sha = await t.push({ [CONFIGMAP_PATH]: configmap('Hello from the e2e test') }, 'retitle guestbook');
    // THEN both staging targets show it and the ledger says Healthy at that commit
    for (const target of ['staging-use1', 'staging-euw1']) {
      await waitFor(`${target} at ${sha}`, async () =>
        healthyAt(await deployed(t, 'guestbook', target), sha),
      );
      const text = await readFile(targetFile(t, target, 'guestbook/configmap.guestbook-config.yaml'), 'utf8');
      expect(text).toContain('Hello from the e2e test');
      expect((await deployed(t, 'guestbook', target))?.state).toBe('Healthy');
    }
    // AND the plan released guestbook alone; api kept its commit
    const plan = t.events('Release Planned').find((e) => (e.detail as { commit: string }).commit === sha);
    expect(
      (plan!.detail as { releases: { spec: { app: string } }[] }).releases.map((r) => r.spec.app),
    ).toEqual(['guestbook']);
    expect((await deployed(t, 'api', 'prod-use1'))?.commit).toBe(before?.commit);
  });

  it('plans nothing for a commit that touches no app', async () => {
    // WHEN an empty commit and a README change are pushed
    const empty = await t.push({}, 'empty');
    // The webhook is sent after the push returns: wait for its outcome, not for the queues to look idle.
    await waitFor('the empty commit to be skipped', () =>
      t.events('Release Skipped').find((e) => (e.detail as { commit: string }).commit === empty),
    );
    const readme = await t.push({ 'README.md': '# fleet\n' }, 'docs only');
    await waitFor('the README commit to be skipped', () =>
      t.events('Release Skipped').find((e) => (e.detail as { commit: string }).commit === readme),
    );
    // THEN both are skipped with the reason, and no release is planned for them
    const skipped = t
      .events('Release Skipped')
      .filter((e) => [empty, readme].includes((e.detail as { commit: string }).commit))
      .map((e) => (e.detail as { reason: string }).reason);
    expect(skipped).toEqual(['no-app-changed', 'no-app-changed']);
    expect(
      t
        .events('Release Planned')
        .some((e) => [empty, readme].includes((e.detail as { commit: string }).commit)),
    ).toBe(false);
  });

  it('prunes an object that left the app, and nothing else', async () => {
    // GIVEN guestbook's Service on a target
    const service = targetFile(t, 'staging-use1', 'guestbook/service.guestbook.yaml');
    await readFile(service, 'utf8');
    // WHEN service.yaml is deleted from the repo
    const sha = await t.push({ 'apps/guestbook/service.yaml': null }, 'drop the guestbook service');
    await waitFor('prune', async () => healthyAt(await deployed(t, 'guestbook', 'staging-use1'), sha));
    // THEN the Service file is gone and the Deployment stays
    await expect(readFile(service, 'utf8')).rejects.toThrow(/ENOENT/);
    await readFile(targetFile(t, 'staging-use1', 'guestbook/deployment.guestbook.yaml'), 'utf8');
  });

  it('never rolls a target back for a late delivery of an older push', async () => {
    // GIVEN two pushes, both deployed
    const older = await t.push({ [CONFIGMAP_PATH]: configmap('older') }, 'older');
    await waitFor('older', async () => healthyAt(await deployed(t, 'guestbook', 'staging-use1'), older));
    const newer = await t.push({ [CONFIGMAP_PATH]: configmap('newer') }, 'newer');
    await waitFor('newer', async () => healthyAt(await deployed(t, 'guestbook', 'staging-use1'), newer));
    // WHEN the older push's webhook arrives again, late, as a new delivery
    const answer = await sendWebhook({
      url: t.dev.webhookUrl,
      secret: t.secret,
      event: 'push',
      payload: githubPushPayload({
        repo: 'local/fleet',
        cloneUrl: t.dev.gitUrl,
        ref: 'refs/heads/main',
        before: '0'.repeat(40),
        after: older,
      }),
    });
    expect(answer.status).toBe(202);
    await waitFor('the late push to be superseded', () =>
      t
        .events('Release Skipped')
        .find(
          (e) =>
            (e.detail as { commit: string; reason: string }).commit === older &&
            (e.detail as { reason: string }).reason === 'superseded',
        ),
    );
    // AND an Apply Requested of the older generation is delivered to the agent straight after
    const record = await deployed(t, 'guestbook', 'staging-use1');
    const olderApply = t
      .events('Apply Requested')
      .map((e) => e.detail as ApplyRequested)
      .find((d) => d.commit === older && d.target.name === 'staging-use1');
    t.dev.pipeline.queues
      .get('sluice-agent-us-east-1.fifo')
      ?.send([
        { body: JSON.stringify(olderApply), groupId: 'staging-use1/guestbook', dedupId: 'replayed-older' },
      ]);
    await waitFor('the agent to refuse stale work', () =>
      t.events('Deployment Skipped').find((e) => (e.detail as { commit: string }).commit === older),
    );
    await t.dev.pipeline.idle();
    // THEN the target still runs the newer commit
    expect((await deployed(t, 'guestbook', 'staging-use1'))?.commit).toBe(newer);
    expect(record?.commit).toBe(newer);
    const text = await readFile(
      targetFile(t, 'staging-use1', 'guestbook/configmap.guestbook-config.yaml'),
      'utf8',
    );
    expect(text).toContain('newer');
  });

  it('blocks a release that breaks policy and says which policy, object and file', async () => {
    // GIVEN metrics-agent deployed
    const before = await deployed(t, 'metrics-agent', 'onprem-fra1');
    const daemonset = (
      await readFile(path.join(EXAMPLE_FLEET, 'apps/metrics-agent/daemonset.yaml'), 'utf8')
    ).replace('privileged: false', 'privileged: true');
    // WHEN the privileged flag is flipped and pushed
    const sha = await t.push({ 'apps/metrics-agent/daemonset.yaml': daemonset }, 'make the agent privileged');
    const rejected = await waitFor('Policy Rejected', () =>
      t.events('Policy Rejected').find((e) => (e.detail as { commit: string }).commit === sha),
    );
    await t.dev.pipeline.idle();
    // THEN the violation names the policy, the object and the file, and no target changed
    const violations = (rejected.detail as { violations: { policy: string; object: string; file: string }[] })
      .violations;
    expect(violations).toContainEqual(
      expect.objectContaining({
        policy: 'no-privileged',
        object: 'DaemonSet/monitoring/metrics-agent',
        file: 'apps/metrics-agent/daemonset.yaml',
      }),
    );
    expect((await deployed(t, 'metrics-agent', 'onprem-fra1'))?.commit).toBe(before?.commit);
  });

  it('parks a poison message in the dead-letter queue with its reason while the rest proceed', async () => {
    // WHEN garbage lands on the render queue next to a good push
    t.dev.pipeline.queues.get('sluice-render')?.send([{ body: '{"not":"an envelope"}' }]);
    const sha = await t.push({ [CONFIGMAP_PATH]: configmap('after poison') }, 'after poison');
    await waitFor('the good push', async () =>
      healthyAt(await deployed(t, 'guestbook', 'staging-euw1'), sha),
    );
    // THEN the poison sits in the DLQ, saying why
    const parked = t.dev.pipeline.deadLetters.get('sluice-render-dlq')?.peek() ?? [];
    expect(parked).toHaveLength(1);
    expect(parked[0]?.attributes.deadLetterReason).toMatch(/not an EventBridge envelope/);
  });

  it('answers bad webhooks with a clear 4xx and publishes nothing', async () => {
    const count = t.events('Commit Pushed').length;
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const post = (headers: Record<string, string>, payload = body) =>
      fetch(t.dev.webhookUrl, {
        method: 'POST',
        headers: { 'x-github-event': 'push', 'x-github-delivery': 'd-1', ...headers },
        body: payload,
      });
    // bad signature
    const unsigned = await post({
      'content-type': 'application/json',
      'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
    });
    expect(unsigned.status).toBe(401);
    // malformed body, correctly signed
    const malformed = await post(
      {
        'content-type': 'application/json',
        'x-hub-signature-256': signGithub(t.secret, Buffer.from('{oops')),
      },
      '{oops',
    );
    expect(malformed.status).toBe(400);
    // wrong content type
    const form = await post({
      'content-type': 'text/plain',
      'x-hub-signature-256': signGithub(t.secret, Buffer.from(body)),
    });
    expect(form.status).toBe(415);
    expect(t.events('Commit Pushed')).toHaveLength(count);
  });
});

describe('coalescing a burst of pushes', () => {
  let t: TestDev;
  beforeAll(async () => {
    t = await startTestDev({ coalesceMs: 2000 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('plans and renders only the newest of 50 pushes to one branch', async () => {
    // GIVEN 50 commits pushed one after another to main, each changing guestbook
    const shas: string[] = [];
    for (let i = 1; i <= 50; i++)
      shas.push(await t.push({ [CONFIGMAP_PATH]: configmap(`burst ${i}`) }, `burst ${i}`));
    const newest = shas.at(-1)!;
    // WHEN the pipeline settles
    await waitFor('the newest to deploy', async () =>
      healthyAt(await t.dev.pipeline.ledger.getDeployment('guestbook', 'staging-use1'), newest)
        ? true
        : undefined,
    );
    await t.dev.pipeline.idle();
    // THEN exactly one release was planned and one bundle rendered, for the newest commit
    const ofBurst = (type: string) =>
      t.events(type).filter((e) => shas.includes((e.detail as { commit: string }).commit));
    expect(ofBurst('Commit Pushed')).toHaveLength(50);
    expect(ofBurst('Release Planned').map((e) => (e.detail as { commit: string }).commit)).toEqual([newest]);
    expect(ofBurst('Bundle Verified').map((e) => (e.detail as { commit: string }).commit)).toEqual([newest]);
    expect(ofBurst('Release Skipped')).toHaveLength(49);
    const text = await readFile(
      path.join(t.dev.pipeline.targetDir('staging-use1'), 'guestbook/configmap.guestbook-config.yaml'),
      'utf8',
    );
    expect(text).toContain('burst 50');
  });
});
