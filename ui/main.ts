/**
 * The fleet dashboard's page (served and bundled by cli/runtime/ui-server.ts). Three views, by the
 * URL's hash: the fleet matrix (#/), an app (#/app/NAME), a commit's trace (#/commit/SHA). Every
 * name, commit message and reason comes from a push: all of it goes through esc() before it
 * becomes HTML. Live: a server-sent `change` re-reads the current view, no reload.
 */
import { ageOf, esc, type FleetRow, matrixHtml, short, stateClass } from './matrix.ts';

interface Fleet {
  rows: FleetRow[];
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

const renderFleet = async () => {
  const fleet = await getJson<Fleet>('/api/fleet');
  const started = performance.now();
  const apps = [...new Set(fleet.rows.map((r) => r.app))].sort();
  const states = [...new Set([...STATES, ...fleet.rows.map((r) => r.state)])];
  const filterBar = `<form class="filters" role="search" aria-label="filter the fleet">
<label>App <input name="app" value="${esc(filters.app)}" list="apps"></label>
<datalist id="apps">${apps.map((a) => `<option value="${esc(a)}">`).join('')}</datalist>
<label>Target <input name="target" value="${esc(filters.target)}"></label>
<label>State <select name="state"><option value="">any</option>${states
    .map((s) => `<option${s === filters.state ? ' selected' : ''}>${esc(s)}</option>`)
    .join('')}</select></label>
</form>`;
  const keep = document.activeElement instanceof HTMLInputElement ? document.activeElement.name : undefined;
  view.innerHTML = `<h1>Fleet <small>${esc(fleet.where)}</small></h1>${filterBar}${rolloutsHtml(fleet)}
<div class="matrix-wrap">${matrixHtml(fleet.rows, filters)}</div>`;
  view.dataset.renderMs = String(Math.round(performance.now() - started));
  const form = view.querySelector('form') as HTMLFormElement;
  form.addEventListener('input', () => {
    const data = new FormData(form);
    filters.app = String(data.get('app') ?? '');
    filters.target = String(data.get('target') ?? '');
    filters.state = String(data.get('state') ?? '');
    const wrap = view.querySelector('.matrix-wrap') as HTMLElement;
    wrap.innerHTML = matrixHtml(fleet.rows, filters);
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  if (keep) (form.elements.namedItem(keep) as HTMLInputElement | null)?.focus();
};

const renderApp = async (app: string) => {
  const fleet = await getJson<Fleet>('/api/fleet');
  const rows = fleet.rows.filter((r) => r.app === app);
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
