/**
 * The dashboard's matrix at fleet scale, outside a browser: /api/fleet's column-indexed answer
 * (compactFleet) decoded by the page's filterMatrix, and the virtualised window that becomes HTML.
 */
import { describe, expect, it } from 'vitest';
import { compactFleet } from '../../cli/runtime/ui-server.ts';
import { filterMatrix, matrixWindowHtml, windowOf } from '../../ui/matrix.ts';

const APPS = 50;
const TARGETS = 1000;
const at = '2026-12-06T12:00:00.000Z';
const rows = Array.from({ length: APPS * TARGETS }, (_, i) => {
  const a = Math.floor(i / TARGETS);
  const t = i % TARGETS;
  return {
    app: `app-${a}`,
    target: `target-${String(t).padStart(4, '0')}`,
    state: t % 97 === 0 ? 'Failed' : 'Healthy',
    commit: (a % 3).toString(16).padStart(40, 'c'),
    updatedAt: at,
    ...(t === 5
      ? { newest: { commit: 'f'.repeat(40), outcome: 'Policy Rejected', at, reason: '<b>no</b>' } }
      : {}),
  };
});
const none = { app: '', target: '', state: '' };

describe('fleet matrix at 50 apps × 1,000 targets', () => {
  it('sends every name and commit once, not once per cell', () => {
    const m = compactFleet(rows);
    expect(m.apps).toHaveLength(APPS);
    expect(m.targets).toHaveLength(TARGETS);
    expect([...m.commits].sort()).toEqual(
      ['0', '1', '2'].map((d) => d.padStart(40, 'c')).concat('f'.repeat(40)),
    );
    const bytes = JSON.stringify(m).length;
    expect(bytes).toBeLessThan(JSON.stringify(rows).length / 4);
  });

  it('renders only the window in view, and tells assistive technology the whole size', () => {
    const m = compactFleet(rows);
    const shown = filterMatrix(m, none);
    expect(shown.count).toBe(APPS * TARGETS);
    const win = windowOf(shown, { left: 150 * 500, top: 64 * 20, width: 1200, height: 600 });
    const html = matrixWindowHtml(m, shown, win, { row: 20, col: 500 }, Date.parse(at) + 60_000);
    const cells = html.match(/<td class="cell/g) ?? [];
    expect(cells.length).toBe((win.row1 - win.row0) * (win.col1 - win.col0));
    expect(cells.length).toBeLessThan(400);
    expect(html).toContain('aria-rowcount="51" aria-colcount="1001"');
    // Rows are apps by name (app-0, app-1, app-10, …): row 20 is app-27.
    expect(html).not.toContain('data-target="target-0000"');
    // The one tab stop is the focused cell.
    expect(html.match(/tabindex="0"/g)).toHaveLength(1);
    expect(html).toContain(
      'aria-colindex="502" data-row="20" data-col="500" tabindex="0" data-app="app-27" data-target="target-0500"',
    );
    expect(html).toContain('<span class="age">1m</span>');
  });

  it('filters by app, target and state, with hostile text escaped', () => {
    const m = compactFleet(rows);
    const failed = filterMatrix(m, { ...none, state: 'Failed' });
    expect(failed.count).toBe(APPS * 11);
    expect(failed.targets).toHaveLength(11);
    const one = filterMatrix(m, { app: 'APP-7', target: 'target-000', state: '' });
    expect(one.apps.map((a) => m.apps[a])).toEqual(['app-7']);
    expect(one.count).toBe(10);
    const html = matrixWindowHtml(m, one, windowOf(one, { left: 0, top: 0, width: 2000, height: 500 }), {
      row: 0,
      col: 0,
    });
    expect(html).toContain(`href="#/commit/${'f'.repeat(40)}" title="&lt;b&gt;no&lt;/b&gt;"`);
    expect(html).not.toContain('<b>');
    expect(filterMatrix(m, { ...none, app: 'nope' }).count).toBe(0);
  });
});
