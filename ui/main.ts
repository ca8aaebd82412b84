/**
 * The fleet dashboard's page (served and bundled by cli/runtime/ui-server.ts). Three views, by the
 * URL's hash: the fleet matrix (#/), an app (#/app/NAME), a commit's trace (#/commit/SHA). Every
 * name, commit message and reason comes from a push: all of it goes through esc() before it
 * becomes HTML. Live: a server-sent `change` re-reads the current view, no reload.
 */
import {
  ageOf,
  CELL,
  CELL_STRIDE,
  type CompactMatrix,
  esc,
  type FleetRow,
  filterMatrix,
  type MatrixWindow,
  matrixWindowHtml,
  type Shown,
  short,
  stateClass,
  windowOf,
} from './matrix.ts';

interface Fleet {
  /** /api/fleet?app=NAME: that app's rows in full. */
  rows: FleetRow[];
  /** /api/fleet: the whole matrix, column-indexed. */
  matrix: CompactMatrix;
  branches: { repo: string; branch: string; commit: string; outcome: string; at: string; reason?: string }[];
  rollouts: unknown[];
  where: string;
  readOnly: boolean;
  actions: { rollback: boolean; approve: boolean };
}

interface Trace {
  commit: string;
  events: { type: string; time: string; lines: string[] }[];
}

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
const token = meta('sluice-token');
const view = document.getElementById('view') as HTMLElement;
const live = document.getElementById('live') as HTMLElement;

const filters = { app: '', target: '', state: '' };

const getJson = async <T>(url: string): Promise<T> => {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  const body = (await response.json()) as T & { message?: string };
  if (!response.ok) throw new Error(body.message ?? `${response.status}`);
  return body;
};

const post = async (url: string, body: unknown): Promise<{ message?: string }> => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-sluice-token': token },
    body: JSON.stringify(body),
  });
  const answer = (await response.json().catch(() => ({}))) as { message?: string };
  if (!response.ok) throw new Error(answer.message ?? `${response.status}`);
  return answer;
};

interface Rollout {
  app: string;
  commit: string;
  state: string;
  current: number;
  reason?: string;
  approvals: Record<string, string>;
  waves: { name: string; targets: string[]; approval: boolean; state: string; bakeUntil?: string }[];
}

/** Rollouts wave by wave; the wave waiting for a person gets an Approve button. */
const rolloutsHtml = (fleet: Fleet) => {
  const open = (fleet.rollouts as unknown as Rollout[]).filter((r) => r.state !== 'Completed');
  if (open.length === 0) return '';
  const items = open
    .map((r) => {
      const waves = r.waves
        .map((w, i) => {
          const approve =
            fleet.actions.approve &&
            w.approval &&
            !r.approvals[w.name] &&
            i >= r.current &&
            r.state !== 'Halted'
              ? ` <button type="button" data-approve="${esc(w.name)}" data-app="${esc(r.app)}">Approve ${esc(w.name)}</button>`
              : '';
          return `<li class="${stateClass(w.state)}"${i === r.current ? ' aria-current="step"' : ''}>${esc(w.name)}: ${esc(w.state)} (${esc(w.targets.join(', '))})${w.approval ? ' · needs approval' : ''}${approve}</li>`;
        })
        .join('');
      return `<li data-rollout="${esc(r.app)}"><strong>${esc(r.app)}</strong> <a href="#/commit/${esc(r.commit)}">${esc(short(r.commit))}</a> ${esc(r.state)}${r.reason ? ` <span class="reason">${esc(r.reason)}</span>` : ''}<ol class="waves">${waves}</ol></li>`;
    })
    .join('');
  return `<section aria-labelledby="rollouts-h"><h2 id="rollouts-h">Rollouts</h2><ul class="rollouts">${items}</ul></section>`;
};

const STATES = ['Healthy', 'Pending', 'Progressing', 'Failed', 'RolledBack', 'Removed', 'NotDeployed'];

/** The matrix on screen: its data, what the filters leave, the rendered window and the focused cell. */
const grid = {
  m: undefined as CompactMatrix | undefined,
  shown: undefined as Shown | undefined,
  win: undefined as MatrixWindow | undefined,
  focus: { row: 0, col: 0 },
  frame: 0,
};

/** Render the window in view, unless it is the one already in the DOM (force: new data or filters). */
const paintMatrix = (force = false) => {
  const wrap = view.querySelector<HTMLElement>('.matrix-wrap');
  const { m, shown } = grid;
  if (!wrap || !m || !shown) return;
  const space = wrap.querySelector<HTMLElement>('.matrix-space') as HTMLElement;
  const win = windowOf(shown, {
    left: wrap.scrollLeft,
    top: wrap.scrollTop,
    width: wrap.clientWidth || 1400,
    height: wrap.clientHeight || 900,
  });
  const same =
    grid.win &&
    grid.win.row0 === win.row0 &&
    grid.win.row1 === win.row1 &&
    grid.win.col0 === win.col0 &&
    grid.win.col1 === win.col1;
  if (same && !force) return;
  grid.win = win;
  const hadFocus = space.contains(document.activeElement);
  space.innerHTML = matrixWindowHtml(m, shown, win, grid.focus);
  const table = space.firstElementChild as HTMLElement;
  table.style.left = `${win.col0 * CELL.width}px`;
  table.style.top = `${win.row0 * CELL.height}px`;
  if (hadFocus) focusCell();
};

const focusCell = () =>
  view
    .querySelector<HTMLElement>(`.matrix-space [data-row="${grid.focus.row}"][data-col="${grid.focus.col}"]`)
    ?.focus({ preventScroll: true });

const showMatrix = () => {
  const wrap = view.querySelector<HTMLElement>('.matrix-wrap') as HTMLElement;
  const caption = view.querySelector<HTMLElement>('#matrix-caption') as HTMLElement;
  const shown = filterMatrix(grid.m as CompactMatrix, filters);
  grid.shown = shown;
  grid.focus = {
    row: Math.min(grid.focus.row, Math.max(0, shown.apps.length - 1)),
    col: Math.min(grid.focus.col, Math.max(0, shown.targets.length - 1)),
  };
  if (shown.count === 0) {
    caption.textContent = 'Nothing matches.';
    wrap.hidden = true;
    return;
  }
  wrap.hidden = false;
  caption.textContent = `${shown.count} deployment(s): ${shown.apps.length} app(s) × ${shown.targets.length} target(s)`;
  const space = wrap.querySelector<HTMLElement>('.matrix-space') as HTMLElement;
  space.style.width = `${CELL.headWidth + shown.targets.length * CELL.width}px`;
  space.style.height = `${CELL.headHeight + shown.apps.length * CELL.height}px`;
  paintMatrix(true);
};

const KEYS: Record<string, (f: { row: number; col: number }, s: Shown) => [number, number]> = {
  ArrowUp: (f) => [f.row - 1, f.col],
  ArrowDown: (f) => [f.row + 1, f.col],
  ArrowLeft: (f) => [f.row, f.col - 1],
  ArrowRight: (f) => [f.row, f.col + 1],
  Home: (f) => [f.row, 0],
  End: (f, s) => [f.row, s.targets.length - 1],
  PageUp: (f) => [f.row - 10, f.col],
  PageDown: (f) => [f.row + 10, f.col],
};

/** Arrow keys move the grid's one tab stop; the window scrolls to it; Enter opens the cell's commit. */
const onMatrixKey = (event: KeyboardEvent) => {
  const cell = (event.target as HTMLElement).closest<HTMLElement>('td[data-row]');
  const shown = grid.shown;
  if (!cell || !shown) return;
  if (event.key === 'Enter') {
    cell.querySelector<HTMLAnchorElement>('a')?.click();
    return;
  }
  const move = KEYS[event.key];
  if (!move) return;
  event.preventDefault();
  const [row, col] = move({ row: Number(cell.dataset.row), col: Number(cell.dataset.col) }, shown);
  grid.focus = {
    row: Math.max(0, Math.min(shown.apps.length - 1, row)),
    col: Math.max(0, Math.min(shown.targets.length - 1, col)),
  };
  const wrap = view.querySelector<HTMLElement>('.matrix-wrap') as HTMLElement;
  const x = CELL.headWidth + grid.focus.col * CELL.width;
  const y = CELL.headHeight + grid.focus.row * CELL.height;
  if (x - CELL.headWidth < wrap.scrollLeft) wrap.scrollLeft = x - CELL.headWidth;
  if (x + CELL.width > wrap.scrollLeft + wrap.clientWidth)
    wrap.scrollLeft = x + CELL.width - wrap.clientWidth;
  if (y - CELL.headHeight < wrap.scrollTop) wrap.scrollTop = y - CELL.headHeight;
  if (y + CELL.height > wrap.scrollTop + wrap.clientHeight)
    wrap.scrollTop = y + CELL.height - wrap.clientHeight;
  paintMatrix(true);
  focusCell();
};

const renderFleet = async () => {
  const fleet = await getJson<Fleet>('/api/fleet');
  const started = performance.now();
  const m = fleet.matrix;
  const apps = [...m.apps].sort();
  const inUse = new Set<string>();
  for (let i = 2; i < m.cells.length; i += CELL_STRIDE) inUse.add(m.words[m.cells[i] as number] as string);
  const states = [...new Set([...STATES, ...inUse])];
  const filterBar = `<form class="filters" role="search" aria-label="filter the fleet">
<label>App <input name="app" value="${esc(filters.app)}" list="apps"></label>
<datalist id="apps">${apps.map((a) => `<option value="${esc(a)}">`).join('')}</datalist>
<label>Target <input name="target" value="${esc(filters.target)}"></label>
<label>State <select name="state"><option value="">any</option>${states
    .map((s) => `<option${s === filters.state ? ' selected' : ''}>${esc(s)}</option>`)
    .join('')}</select></label>
</form>`;
  const keep = document.activeElement instanceof HTMLInputElement ? document.activeElement.name : undefined;
  const old = view.querySelector<HTMLElement>('.matrix-wrap');
  // A live re-read keeps the keyboard user's place in the grid.
  const cellFocused = old?.contains(document.activeElement) === true;
  const scroll = old ? { left: old.scrollLeft, top: old.scrollTop } : { left: 0, top: 0 };
  view.innerHTML = `<h1>Fleet <small>${esc(fleet.where)}</small></h1>${filterBar}${rolloutsHtml(fleet)}
<p id="matrix-caption" class="caption"></p><div class="matrix-wrap"><div class="matrix-space"></div></div>`;
  const wrap = view.querySelector<HTMLElement>('.matrix-wrap') as HTMLElement;
  wrap.scrollLeft = scroll.left;
  wrap.scrollTop = scroll.top;
  grid.m = m;
  grid.win = undefined;
  showMatrix();
  if (cellFocused) focusCell();
  view.dataset.renderMs = String(Math.round(performance.now() - started));
  wrap.addEventListener('scroll', () => {
    if (grid.frame) return;
    grid.frame = requestAnimationFrame(() => {
      grid.frame = 0;
      paintMatrix();
    });
  });
  wrap.addEventListener('keydown', onMatrixKey);
  const form = view.querySelector('form') as HTMLFormElement;
  form.addEventListener('input', () => {
    const data = new FormData(form);
    filters.app = String(data.get('app') ?? '');
    filters.target = String(data.get('target') ?? '');
    filters.state = String(data.get('state') ?? '');
    showMatrix();
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  if (keep) (form.elements.namedItem(keep) as HTMLInputElement | null)?.focus();
};

const renderApp = async (app: string) => {
  const fleet = await getJson<Fleet>(`/api/fleet?app=${encodeURIComponent(app)}`);
  const rows = fleet.rows;
  const canRollback = fleet.actions.rollback;
  const body = rows
    .map((r) => {
      const newest = r.newest
        ? `<a href="#/commit/${esc(r.newest.commit)}">${esc(short(r.newest.commit))}</a> ${esc(r.newest.outcome)}${
            r.newest.reason ? `<div class="reason">${esc(r.newest.reason)}</div>` : ''
          }`
        : '';
      const history = (r.history ?? [])
        .slice(-6)
        .reverse()
        .map((h) => `<li>${esc(h.state)} <code>${esc(short(h.commit))}</code> ${esc(ageOf(h.at))} ago</li>`)
        .join('');
      const action =
        canRollback && r.lastKnownGood
          ? `<button type="button" data-rollback="${esc(r.target)}">Roll back to ${esc(short(r.lastKnownGood))}</button>`
          : '';
      return `<tr class="${stateClass(r.state)}" data-target="${esc(r.target)}">
<th scope="row">${esc(r.target)}</th>
<td><span class="state">${esc(r.state)}</span>${r.reason ? `<div class="reason">${esc(r.reason)}</div>` : ''}</td>
<td>${r.commit ? `<a href="#/commit/${esc(r.commit)}">${esc(short(r.commit))}</a>` : '—'}</td>
<td>${r.updatedAt ? `${esc(ageOf(r.updatedAt))} ago` : ''}</td>
<td>${newest}</td>
<td><ul class="history">${history}</ul></td>
<td>${action}</td></tr>`;
    })
    .join('');
  view.innerHTML = `<h1>App ${esc(app)}</h1><p><a href="#/">← fleet</a></p>
${rows.length === 0 ? '<p>No deployment of this app is recorded.</p>' : ''}
<table class="app"><caption>Targets of ${esc(app)}</caption><thead><tr><th scope="col">Target</th><th scope="col">State</th><th scope="col">Deployed</th><th scope="col">Age</th><th scope="col">Newest planned</th><th scope="col">History</th><th scope="col">Action</th></tr></thead><tbody>${body}</tbody></table>
<p id="action-result" role="status"></p>`;
  for (const button of view.querySelectorAll<HTMLButtonElement>('button[data-rollback]')) {
    button.addEventListener('click', async () => {
      const target = button.dataset.rollback ?? '';
      if (!window.confirm(`Roll ${app} on ${target} back to its last known good release?`)) return;
      const result = view.querySelector('#action-result') as HTMLElement;
      try {
        await post('/api/rollback', { app, target });
        result.textContent = `Rollback of ${app} on ${target} requested.`;
      } catch (error) {
        result.textContent = `Rollback refused: ${(error as Error).message}`;
      }
    });
  }
};

const renderCommit = async (sha: string) => {
  const trace = await getJson<Trace>(`/api/commit/${encodeURIComponent(sha)}`);
  const items = trace.events
    .map(
      (
        e,
      ) => `<li class="ev ${stateClass(e.type)}"><time datetime="${esc(e.time)}">${esc(e.time.slice(11, 23))}</time>
<span class="type">${esc(e.type)}</span><pre>${esc(e.lines.join('\n'))}</pre></li>`,
    )
    .join('');
  view.innerHTML = `<h1>Commit <code>${esc(short(sha))}</code></h1><p><a href="#/">← fleet</a></p>
${trace.events.length === 0 ? '<p>No events for this commit yet.</p>' : `<ol class="timeline">${items}</ol>`}`;
};

const render = async () => {
  const hash = decodeURIComponent(location.hash.slice(1) || '/');
  try {
    const app = /^\/app\/(.+)$/.exec(hash)?.[1];
    const commit = /^\/commit\/([0-9a-f]{4,40})$/.exec(hash)?.[1];
    if (app) await renderApp(app);
    else if (commit) await renderCommit(commit);
    else await renderFleet();
    document.body.dataset.version = String(Number(document.body.dataset.version ?? 0) + 1);
  } catch (error) {
    view.innerHTML = `<p role="alert">Could not load: ${esc((error as Error).message)}</p>`;
  }
};

window.addEventListener('hashchange', () => {
  void render().then(() => view.focus());
});

view.addEventListener('click', async (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-approve]');
  if (!button) return;
  const app = button.dataset.app ?? '';
  const wave = button.dataset.approve ?? '';
  if (!window.confirm(`Approve wave ${wave} of ${app}?`)) return;
  await post('/api/approve', { app, wave }).catch((error: Error) => window.alert(error.message));
});

let queued = false;
const events = new EventSource('/api/events');
events.addEventListener('hello', () => {
  live.textContent = 'live';
});
events.addEventListener('change', () => {
  live.textContent = 'live';
  // Several events in a burst: one re-read.
  if (queued) return;
  queued = true;
  setTimeout(() => {
    queued = false;
    void render();
  }, 100);
});
events.addEventListener('error', () => {
  live.textContent = 'reconnecting…';
});

void render();
