/**
 * The dashboard's fleet matrix at 50 apps × 1,000 targets in headless Chromium: the time from
 * the /api/fleet answer to the matrix in the DOM (the page's data-render-ms) and from navigation
 * to the first cell, and the size of /api/fleet. Target: under a second. Prints the repo's bench
 * lines (bench/lib/report.ts), the best of three page loads, beside the figures of the page before
 * the compact /api/fleet and the virtualised matrix (commit 51b4f98, same machine: 2,785 ms render,
 * about 14 s to the first cell, 8.8 MB). Run: `npx node bench/ui-matrix.ts` (or `node` ≥ 22.19).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startUiServer } from '../cli/runtime/ui-server.ts';
import type { DeploymentRecord, Ledger } from '../shared/ports/index.ts';
import { emit, note } from './lib/report.ts';

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
  const runs: { renderMs: number; firstCellMs: number }[] = [];
  for (let run = 1; run <= 3; run++) {
    const started = performance.now();
    await page.goto(ui.url);
    await page.waitForSelector('td.cell', { timeout: 60_000 });
    const firstCellMs = performance.now() - started;
    const renderMs = Number(await page.locator('#view').getAttribute('data-render-ms'));
    const cells = await page.locator('td.cell').count();
    note(
      `run ${run}: ${cells} cells in the DOM, matrix render ${renderMs} ms, navigation to first cell ${Math.round(firstCellMs)} ms`,
    );
    runs.push({ renderMs, firstCellMs });
  }
  const bytes = (await (await fetch(`${ui.url}api/fleet`)).arrayBuffer()).byteLength;
  const common = { bench: 'ui-matrix' as const, apps: APPS, targets: TARGETS, goalMs: 1000 };
  const before = 'the page before virtualisation and the compact /api/fleet (51b4f98)';
  emit({
    ...common,
    figure: 'matrix-render',
    value: Math.min(...runs.map((r) => r.renderMs)),
    unit: 'ms',
    comparison: before,
    comparisonValue: 2785,
  });
  emit({
    ...common,
    figure: 'navigation-to-first-cell',
    value: Math.min(...runs.map((r) => r.firstCellMs)),
    unit: 'ms',
    comparison: before,
    comparisonValue: 14_000,
  });
  emit({
    ...common,
    figure: 'fleet-response',
    value: bytes,
    unit: 'bytes',
    comparison: before,
    comparisonValue: 8_800_000,
  });
} finally {
  await browser.close();
  await ui.close();
}
