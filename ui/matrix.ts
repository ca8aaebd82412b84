/** The fleet matrix as one HTML string: one assignment to innerHTML keeps 50 apps × 1,000 targets fast. */

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

export const matrixHtml = (
  rows: readonly FleetRow[],
  filter: { app: string; target: string; state: string },
  now = Date.now(),
): string => {
  const app = filter.app.toLowerCase();
  const target = filter.target.toLowerCase();
  const shown = rows.filter(
    (r) =>
      (!app || r.app.toLowerCase().includes(app)) &&
      (!target || r.target.toLowerCase().includes(target)) &&
      (!filter.state || r.state === filter.state),
  );
  if (shown.length === 0) return '<p>Nothing matches.</p>';
  const apps = [...new Set(shown.map((r) => r.app))].sort();
  const targets = [...new Set(shown.map((r) => r.target))].sort();
  const cells = new Map(shown.map((r) => [`${r.app}\n${r.target}`, r]));
  const parts: string[] = [
    `<table class="matrix"><caption>${shown.length} deployment(s): ${apps.length} app(s) × ${targets.length} target(s)</caption><thead><tr><th scope="col">App</th>`,
  ];
  for (const t of targets) parts.push(`<th scope="col">${esc(t)}</th>`);
  parts.push('</tr></thead><tbody>');
  for (const a of apps) {
    parts.push(`<tr><th scope="row"><a href="#/app/${esc(encodeURIComponent(a))}">${esc(a)}</a></th>`);
    for (const t of targets) {
      const r = cells.get(`${a}\n${t}`);
      if (!r) {
        parts.push('<td class="empty"></td>');
        continue;
      }
      const newer =
        r.newest && r.newest.commit !== r.commit
          ? `<a class="newest ${stateClass(r.newest.outcome)}" href="#/commit/${esc(r.newest.commit)}" title="${esc(r.newest.reason ?? '')}">→ ${esc(short(r.newest.commit))} ${esc(r.newest.outcome)}</a>`
          : '';
      parts.push(
        `<td class="cell ${stateClass(r.state)}" data-app="${esc(r.app)}" data-target="${esc(r.target)}" data-state="${esc(r.state)}" data-commit="${esc(r.commit ?? '')}"><span class="state">${esc(r.state)}</span> ${
          r.commit ? `<a href="#/commit/${esc(r.commit)}">${esc(short(r.commit))}</a>` : ''
        } <span class="age">${r.updatedAt ? esc(ageOf(r.updatedAt, now)) : ''}</span>${newer}</td>`,
      );
    }
    parts.push('</tr>');
  }
  parts.push('</tbody></table>');
  return parts.join('');
};
