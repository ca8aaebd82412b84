/**
 * The fleet matrix, virtualised: /api/fleet sends it column-indexed (cli/runtime/ui-server.ts
 * compactFleet) and the page renders only the window of rows and columns in view plus a margin,
 * as one innerHTML string, again on scroll (one requestAnimationFrame per frame).
 */

export interface FleetRow {
  app: string;
  target: string;
  state: string;
  commit?: string;
  updatedAt?: string;
  reason?: string;
  lastKnownGood?: string;
  history?: { state: string; at: string; commit: string; reason?: string }[];
  newest?: { commit: string; outcome: string; at: string; reason?: string };
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Every string from a push passes here before it becomes HTML. */
export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);

export const short = (sha: string | undefined) => (sha ? sha.slice(0, 7) : '');

/** A CSS class per state or event type: the colour says healthy, moving, or in trouble. */
export const stateClass = (state: string): string => {
  if (/^(Healthy|Deployment Succeeded|Bundle Verified|Release Planned)$/.test(state)) return 's-ok';
  if (/Fail|Reject|Refused|Degraded|Rollback Failed/.test(state)) return 's-bad';
  if (/Roll/.test(state)) return 's-warn';
  if (/NotDeployed|Skipped|Superseded/.test(state)) return 's-none';
  return 's-busy';
};

export const ageOf = (iso: string, now = Date.now()): string => {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
};

/** /api/fleet's matrix: every string once, per cell CELL_STRIDE indices (-1: none). */
export interface CompactMatrix {
  apps: string[];
  targets: string[];
  words: string[];
  commits: string[];
  cells: number[];
}
export const CELL_STRIDE = 8;
const [C_APP, C_TARGET, C_STATE, C_COMMIT, C_AT, C_NEW_COMMIT, C_NEW_OUTCOME, C_NEW_REASON] = [
  0, 1, 2, 3, 4, 5, 6, 7,
];

/** What the filters leave: app and target indices (sorted by name) and, per (row, column), a cell or -1. */
export interface Shown {
  apps: number[];
  targets: number[];
  at: Int32Array;
  count: number;
}

export const filterMatrix = (
  m: CompactMatrix,
  filter: { app: string; target: string; state: string },
): Shown => {
  const app = filter.app.toLowerCase();
  const target = filter.target.toLowerCase();
  const appOk = m.apps.map((a) => !app || a.toLowerCase().includes(app));
  const targetOk = m.targets.map((t) => !target || t.toLowerCase().includes(target));
  const state = filter.state ? m.words.indexOf(filter.state) : -1;
  const kept: number[] = [];
  const appSeen = new Set<number>();
  const targetSeen = new Set<number>();
  for (let i = 0; i < m.cells.length; i += CELL_STRIDE) {
    const a = m.cells[i + C_APP] as number;
    const t = m.cells[i + C_TARGET] as number;
    if (!appOk[a] || !targetOk[t]) continue;
    if (filter.state && m.cells[i + C_STATE] !== state) continue;
    kept.push(i);
    appSeen.add(a);
    targetSeen.add(t);
  }
  const byName = (names: string[]) => (x: number, y: number) =>
    (names[x] as string) < (names[y] as string) ? -1 : 1;
  const apps = [...appSeen].sort(byName(m.apps));
  const targets = [...targetSeen].sort(byName(m.targets));
  const rowOf = new Int32Array(m.apps.length);
  const colOf = new Int32Array(m.targets.length);
  apps.forEach((a, r) => {
    rowOf[a] = r;
  });
  targets.forEach((t, c) => {
    colOf[t] = c;
  });
  const at = new Int32Array(apps.length * targets.length).fill(-1);
  for (const i of kept) {
    at[
      (rowOf[m.cells[i + C_APP] as number] as number) * targets.length +
        (colOf[m.cells[i + C_TARGET] as number] as number)
    ] = i;
  }
  return { apps, targets, at, count: kept.length };
};

/** The rows [row0, row1) and columns [col0, col1) of the shown matrix that get DOM nodes. */
export interface MatrixWindow {
  row0: number;
  row1: number;
  col0: number;
  col1: number;
}

/** Pixel sizes that ui/style.css gives the matrix (.matrix th/td): the scroll space is computed from them. */
export const CELL = { width: 150, height: 64, headWidth: 170, headHeight: 30, margin: 3 };

export const windowOf = (
  shown: Shown,
  view: { left: number; top: number; width: number; height: number },
): MatrixWindow => {
  const clamp = (n: number, max: number) => Math.max(0, Math.min(max, n));
  return {
    row0: clamp(Math.floor(view.top / CELL.height) - CELL.margin, shown.apps.length),
    row1: clamp(Math.ceil((view.top + view.height) / CELL.height) + CELL.margin, shown.apps.length),
    col0: clamp(Math.floor(view.left / CELL.width) - CELL.margin, shown.targets.length),
    col1: clamp(Math.ceil((view.left + view.width) / CELL.width) + CELL.margin, shown.targets.length),
  };
};

/**
 * The window as a grid: aria-rowcount/colcount give the whole matrix, aria-rowindex/colindex each
 * rendered row and cell, so a screen reader announces "row 12 of 50" although only the window exists.
 * One cell (focus) carries tabindex 0: arrow keys move it (ui/main.ts).
 */
export const matrixWindowHtml = (
  m: CompactMatrix,
  shown: Shown,
  w: MatrixWindow,
  focus: { row: number; col: number },
  now = Date.now(),
): string => {
  const cols = shown.targets.length;
  const parts: string[] = [
    `<table class="matrix" role="grid" aria-labelledby="matrix-caption" aria-rowcount="${shown.apps.length + 1}" aria-colcount="${cols + 1}"><thead><tr aria-rowindex="1"><th scope="col" aria-colindex="1">App</th>`,
  ];
  for (let c = w.col0; c < w.col1; c++) {
    parts.push(
      `<th scope="col" aria-colindex="${c + 2}">${esc(m.targets[shown.targets[c] as number] as string)}</th>`,
    );
  }
  parts.push('</tr></thead><tbody>');
  const word = (i: number) => (i < 0 ? '' : (m.words[i] as string));
  const commit = (i: number) => (i < 0 ? '' : (m.commits[i] as string));
  for (let r = w.row0; r < w.row1; r++) {
    const a = m.apps[shown.apps[r] as number] as string;
    parts.push(
      `<tr aria-rowindex="${r + 2}"><th scope="row" aria-colindex="1"><a href="#/app/${esc(encodeURIComponent(a))}">${esc(a)}</a></th>`,
    );
    for (let c = w.col0; c < w.col1; c++) {
      const i = shown.at[r * cols + c] as number;
      const tab = r === focus.row && c === focus.col ? '0' : '-1';
      const pos = `aria-colindex="${c + 2}" data-row="${r}" data-col="${c}" tabindex="${tab}"`;
      if (i < 0) {
        parts.push(`<td class="empty" ${pos}></td>`);
        continue;
      }
      const cells = m.cells;
      const state = word(cells[i + C_STATE] as number);
      const sha = commit(cells[i + C_COMMIT] as number);
      const at = cells[i + C_AT] as number;
      const newSha = commit(cells[i + C_NEW_COMMIT] as number);
      const outcome = word(cells[i + C_NEW_OUTCOME] as number);
      const newer =
        newSha && newSha !== sha
          ? `<a class="newest ${stateClass(outcome)}" href="#/commit/${esc(newSha)}" title="${esc(word(cells[i + C_NEW_REASON] as number))}">→ ${esc(short(newSha))} ${esc(outcome)}</a>`
          : '';
      const t = m.targets[cells[i + C_TARGET] as number] as string;
      parts.push(
        `<td class="cell ${stateClass(state)}" ${pos} data-app="${esc(a)}" data-target="${esc(t)}" data-state="${esc(state)}" data-commit="${esc(sha)}"><span class="state">${esc(state)}</span> ${
          sha ? `<a href="#/commit/${esc(sha)}" tabindex="-1">${esc(short(sha))}</a>` : ''
        } <span class="age">${at >= 0 ? esc(ageOf(new Date(at * 1000).toISOString(), now)) : ''}</span>${newer}</td>`,
      );
    }
    parts.push('</tr>');
  }
  parts.push('</tbody></table>');
  return parts.join('');
};
