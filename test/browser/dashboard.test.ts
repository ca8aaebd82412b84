/**
 * The fleet dashboard in a real browser: Debian's headless Chromium (installed by
 * scripts/browser/ensure-chromium.sh when missing) driven by playwright-core, against `sluice dev`
 * in this process with its real git server and directory targets. Screenshots of each view land
 * in test-artifacts/ui/ (gitignored).
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openReader } from '../../cli/operate.ts';
import { startUiServer, type UiServer } from '../../cli/runtime/ui-server.ts';
import { EXAMPLE_FLEET, startTestDev, type TestDev, waitFor } from '../support/dev-harness.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'ui');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const CONFIGMAP = 'apps/guestbook/configmap.yaml';

const cell = (app: string, target: string) => `td.cell[data-app="${app}"][data-target="${target}"]`;

/** axe-core on the current view: the violations a screen-reader or keyboard user would hit hardest. */
const seriousViolations = async (page: Page) => {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string }[] }> } }
    ).axe;
    return (await axe.run()).violations.map((v) => ({ id: v.id, impact: v.impact }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
};

describe('fleet dashboard in headless Chromium (sluice dev in process)', () => {
  let t: TestDev;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const { stdout } = await run('bash', [path.join(ROOT, 'scripts/browser/ensure-chromium.sh')], {
      timeout: 600_000,
    });
    await mkdir(ARTIFACTS, { recursive: true });
    [t, browser] = await Promise.all([
      startTestDev({ coalesceMs: 100 }),
      // --no-sandbox: CI and this machine run as root, where Chromium's sandbox refuses to start.
      chromium.launch({ executablePath: stdout.trim(), args: ['--no-sandbox'] }),
    ]);
    // bypassCSP lets the test inject axe-core; the page itself runs under its strict policy.
    page = await (
      await browser.newContext({ bypassCSP: true, viewport: { width: 1400, height: 900 } })
    ).newPage();
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('lists every (app, target) of the example fleet with its state and commit', async () => {
    await page.goto(t.dev.uiUrl);
    const records = await t.dev.pipeline.ledger.listDeployments();
    expect(records.length).toBeGreaterThan(5);
    await page.waitForSelector(`${cell(records[0]!.app, records[0]!.target)}[data-state="Healthy"]`);
    for (const r of records) {
      const shown = page.locator(cell(r.app, r.target));
      expect(await shown.getAttribute('data-state')).toBe(r.state);
      expect(await shown.getAttribute('data-commit')).toBe(r.commit);
      expect(await shown.textContent()).toContain(r.commit.slice(0, 7));
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'fleet.png'), fullPage: true });
    expect(await seriousViolations(page)).toEqual([]);
  });

  it('moves through the matrix with the arrow keys and narrows it with the filters', async () => {
    await page.goto(t.dev.uiUrl);
    const records = await t.dev.pipeline.ledger.listDeployments();
    await page.waitForSelector('td.cell');
    // One tab stop: the grid's first cell; the arrow keys move it, Enter opens the cell's commit.
    expect(await page.locator('.matrix td[tabindex="0"]').count()).toBe(1);
    await page.locator('.matrix td[tabindex="0"]').focus();
    const focused = async () => {
      const cell = page.locator(':focus');
      return {
        row: await cell.getAttribute('data-row'),
        col: await cell.getAttribute('data-col'),
        commit: await cell.getAttribute('data-commit'),
      };
    };
    expect(await focused()).toMatchObject({ row: '0', col: '0' });
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    expect(await focused()).toMatchObject({ row: '1', col: '1' });
    await page.keyboard.press('ArrowUp');
    expect(await focused()).toMatchObject({ row: '0', col: '1' });
    await page.keyboard.press('Home');
    // Along the first row to a deployed cell (row 0 is an app, so it has one).
    let cellNow = await focused();
    for (let i = 0; i < 20 && !cellNow.commit; i++) {
      await page.keyboard.press('ArrowRight');
      cellNow = await focused();
    }
    expect(cellNow.commit).toMatch(/^[0-9a-f]{40}$/);
    await page.keyboard.press('Enter');
    await page.waitForURL(`**#/commit/${cellNow.commit}`);
    await page.goto(t.dev.uiUrl);
    await page.waitForSelector('td.cell');
    const target = records[0]!.target;
    await page.locator('input[name="target"]').fill(target);
    await page.locator(`td.cell:not([data-target="${target}"])`).first().waitFor({ state: 'detached' });
    const expected = records.filter((r) => r.target === target);
    expect(await page.locator('td.cell').count()).toBe(expected.length);
    expect(await page.locator('#matrix-caption').textContent()).toContain(`${expected.length} deployment(s)`);
    expect(await seriousViolations(page)).toEqual([]);
    await page.locator('input[name="target"]').fill('no-such-target');
    await page.getByText('Nothing matches.').waitFor();
    await page.locator('input[name="target"]').fill('');
  });

  it('shows a push reaching Healthy without a reload', async () => {
    await page.goto(t.dev.uiUrl);
    await page.waitForSelector('td.cell');
    await page.evaluate(() => {
      (globalThis as unknown as { sameDocument: boolean }).sameDocument = true;
    });
    const current = await readFile(path.join(t.clone, CONFIGMAP), 'utf8');
    const title = `Live ${Date.now()}`;
    const sha = await t.push(
      { [CONFIGMAP]: current.replace(/GUESTBOOK_TITLE: .*/, `GUESTBOOK_TITLE: ${title}`) },
      'guestbook: live update',
    );
    await page.waitForSelector(
      `${cell('guestbook', 'staging-euw1')}[data-commit="${sha}"][data-state="Healthy"]`,
      { timeout: 30_000 },
    );
    expect(
      await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument),
    ).toBe(true);
  });

  it('explains a policy rejection on the commit page, with hostile text shown as text', async () => {
    const daemonset = (
      await readFile(path.join(EXAMPLE_FLEET, 'apps/metrics-agent/daemonset.yaml'), 'utf8')
    ).replace('privileged: false', 'privileged: true');
    const sha = await t.push(
      { 'apps/metrics-agent/daemonset.yaml': daemonset },
      'privileged <img src=x onerror="window.pwned=1">',
    );
    await waitFor('Policy Rejected', () =>
      t.events('Policy Rejected').find((e) => (e.detail as { commit: string }).commit === sha),
    );
    // The fleet matrix points at the rejected commit from the cells it did not reach.
    await page.goto(t.dev.uiUrl);
    await page.waitForSelector(`a.newest[href="#/commit/${sha}"]`, { timeout: 10_000 });
    await page.goto(`${t.dev.uiUrl}#/commit/${sha}`);
    const timeline = page.locator('ol.timeline');
    await timeline.waitFor();
    const text = await timeline.textContent();
    expect(text).toContain('Policy Rejected');
    expect(text).toContain('no-privileged');
    expect(text).toContain('DaemonSet/monitoring/metrics-agent');
    expect(text).toContain('<img src=x onerror="window.pwned=1">');
    expect(await page.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await page.screenshot({ path: path.join(ARTIFACTS, 'commit.png'), fullPage: true });
    expect(await seriousViolations(page)).toEqual([]);
  });

  it('rolls a target back from the app page after the user confirms', async () => {
    const bad = (await t.dev.pipeline.ledger.listDeployments()).find(
      (r) => r.app === 'guestbook' && r.target === 'staging-euw1',
    );
    expect(bad?.lastKnownGood).toBeDefined();
    await page.goto(`${t.dev.uiUrl}#/app/guestbook`);
    const dialogs: string[] = [];
    page.once('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.locator('tr[data-target="staging-euw1"] button[data-rollback]').click();
    await page.getByText('Rollback of guestbook on staging-euw1 requested.').waitFor();
    expect(dialogs).toEqual(['Roll guestbook on staging-euw1 back to its last known good release?']);
    const rolled = await waitFor('the rollback to deploy', async () => {
      const r = (await t.dev.pipeline.ledger.listDeployments()).find(
        (d) => d.app === 'guestbook' && d.target === 'staging-euw1',
      );
      return r?.rollbackOf === bad?.commit && r?.state !== 'Progressing' && r?.state !== 'Pending'
        ? r
        : undefined;
    });
    // The app page follows live: the row shows the state the ledger now holds.
    await page.waitForSelector(`tr[data-target="staging-euw1"] >> text=${rolled.state}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'app.png'), fullPage: true });
    expect(await seriousViolations(page)).toEqual([]);
    // The fleet after a release, a rejection and a rollback (docs/dashboard.png is one of these).
    await page.goto(t.dev.uiUrl);
    await page.waitForSelector(`${cell('guestbook', 'staging-euw1')}[data-commit="${rolled.commit}"]`);
    await page.screenshot({
      path: path.join(ARTIFACTS, 'fleet-after.png'),
      clip: { x: 0, y: 0, width: 1260, height: 330 },
    });
  });

  it('refuses actions from other origins, without the token, on a rebound host, and when read-only', async () => {
    const url = new URL(t.dev.uiUrl);
    const post = (headers: Record<string, string>, base = t.dev.uiUrl) =>
      fetch(`${base}api/rollback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ app: 'guestbook' }),
      });
    const token = (await readFile(path.join(t.workdir, 'state', 'control-token'), 'utf8')).trim();
    expect((await post({ origin: 'http://attacker.example', 'x-sluice-token': token })).status).toBe(403);
    expect((await post({ origin: url.origin })).status).toBe(401);
    expect((await post({ origin: url.origin, 'x-sluice-token': 'wrong' })).status).toBe(401);
    // A DNS-rebound name reaches loopback but is not the dashboard's host.
    const rebound = await run('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      `Host: attacker.example:${url.port}`,
      `${t.dev.uiUrl}api/fleet`,
    ]);
    expect(rebound.stdout).toBe('421');

    let readOnly: UiServer | undefined;
    try {
      readOnly = await startUiServer({
        reader: () => openReader({ workdir: t.workdir }),
        token,
        readOnly: true,
        rollback: async () => expect.unreachable('read-only dashboards never publish'),
      });
      const origin = new URL(readOnly.url).origin;
      expect((await post({ origin, 'x-sluice-token': token }, readOnly.url)).status).toBe(403);
      // The page of a read-only dashboard carries no token and offers no rollback.
      expect(await (await fetch(readOnly.url)).text()).toContain('name="sluice-token" content=""');
    } finally {
      await readOnly?.close();
    }
  });
});
