/**
 * The dashboard's fleet matrix at 50 apps × 1,000 targets in headless Chromium: the time from
 * the /api/fleet answer to the matrix in the DOM (the page's data-render-ms) and from navigation
 * to the first cell. Target: under a second. Run: `npx node bench/ui-matrix.ts` (or `node` ≥ 22.19).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startUiServer } from '../cli/runtime/ui-server.ts';
import type { DeploymentRecord, Ledger } from '../shared/ports/index.ts';

const APPS = 50;
const TARGETS = 1000;
const at = new Date().toISOString();
const records: DeploymentRecord[] = [];
for (let a = 0; a < APPS; a++) {
  for (let t = 0; t < TARGETS; t++) {
    const commit = (a * TARGETS + t).toString(16).padStart(40, '0');
    records.push({
      app: `app-${a}`,
      target: `target-${String(t).padStart(4, '0')}`,
      repo: 'local/fleet',
      branch: 'main',
      commit,
      generation: 1,
      digest: 'sha256:0',
      bundleKey: 'b',
      traceId: 't',
      state: t % 97 === 0 ? 'Failed' : 'Healthy',
      updatedAt: at,
      history: [],
      version: 1,
    });
  }
}
const ledger = { listDeployments: async () => records } as unknown as Ledger;
const ui = await startUiServer({
  reader: {
    ledger,
    history: { traceOf: async () => [], newest: async () => ({ targets: [], branches: [] }) },
    where: 'bench',
  },
  readOnly: true,
});
const executablePath = execFileSync('bash', [
  path.join(import.meta.dirname, '../scripts/browser/ensure-chromium.sh'),
])
  .toString()
  .trim();
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  for (let run = 1; run <= 3; run++) {
    const started = performance.now();
    await page.goto(ui.url);
    await page.waitForSelector('td.cell', { timeout: 60_000 });
    const total = performance.now() - started;
    const renderMs = await page.locator('#view').getAttribute('data-render-ms');
    const cells = await page.locator('td.cell').count();
    console.log(
      `run ${run}: ${cells} cells, matrix render ${renderMs} ms, navigation to first cell ${Math.round(total)} ms (target < 1000 ms)`,
    );
  }
} finally {
  await browser.close();
  await ui.close();
}
