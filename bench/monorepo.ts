/**
 * monorepo and empty-commit: a generated 600-app repo. One commit touching one app should render
 * one bundle; an empty commit none. Compared, in the same run on the same fleet, with a planner
 * blind to paths (every app released on every commit, as a tool that refreshes all apps of a
 * repo on each webhook does).
 */
import { configMap, monorepo } from './lib/fixtures.ts';
import { allHealthyAt, type Fleet, startFleet, until, writeCommits } from './lib/fleet.ts';
import { pathBlind } from './lib/naive.ts';
import { emit, note } from './lib/report.ts';

const APPS = Number(process.env.BENCH_MONOREPO_APPS ?? 600);
const TARGETS = 2;

let blind = false;
note(`monorepo: ${APPS} apps on ${TARGETS} targets; seeding (deploys every app once)`);
const seedStarted = performance.now();
const fleet = await startFleet({ repos: { mono: monorepo(APPS) }, git: pathBlind(() => blind) });
await until(
  'seed healthy',
  async () => allHealthyAt(fleet.pipeline, 'mono', await fleet.head('mono'), APPS * TARGETS),
  1_800_000,
);
await fleet.pipeline.idle({ timeoutMs: 600_000 });
const seedMs = performance.now() - seedStarted;
note(`monorepo: seeded in ${Math.round(seedMs)} ms`);

const measure = async (f: Fleet, files: Record<string, string>) => {
  const before = f.events().length;
  const [sha] = await writeCommits(f.gitDir('mono'), await f.head('mono'), [{ files, message: 'bench' }]);
  const started = performance.now();
  await f.push('mono', sha!);
  await until('a plan outcome', () =>
    f
      .events()
      .slice(before)
      .find(
        (e) =>
          ['Release Planned', 'Release Skipped'].includes(e['detail-type']) &&
          (e.detail as { commit: string }).commit === sha,
      ),
  );
  await f.pipeline.idle({ timeoutMs: 1_800_000 });
  const events = f.events().slice(before);
  const count = (type: string) => events.filter((e) => e['detail-type'] === type).length;
  return {
    renders: count('Bundle Verified'),
    releases: count('Deployment Succeeded'),
    applied: events.filter(
      (e) => e['detail-type'] === 'Deployment Succeeded' && (e.detail as { applied: number }).applied > 0,
    ).length,
    ms: performance.now() - started,
  };
};
const oneApp = (n: number) => ({ 'apps/svc-007/configmap.yaml': configMap('svc-007', `v${n}`) });

const touch = await measure(fleet, oneApp(1));
const empty = await measure(fleet, {});
blind = true;
const blindTouch = await measure(fleet, oneApp(2));
const blindEmpty = await measure(fleet, {});
await fleet.stop();

const comparison = 'path-blind planner: every app of the repo released on every commit';
const common = { apps: APPS, targets: TARGETS, seedMs: Math.round(seedMs) };
emit({
  ...common,
  bench: 'monorepo',
  figure: 'renders',
  value: touch.renders,
  unit: 'renders',
  comparison,
  comparisonValue: blindTouch.renders,
  renders: touch.renders,
  releases: touch.releases,
  naiveReleases: blindTouch.releases,
  goal: 1,
});
emit({
  ...common,
  bench: 'monorepo',
  figure: 'time-to-quiet',
  value: touch.ms,
  unit: 'ms',
  comparison,
  comparisonValue: blindTouch.ms,
  renders: touch.renders,
  releases: touch.releases,
});
emit({
  ...common,
  bench: 'empty-commit',
  figure: 'renders',
  value: empty.renders,
  unit: 'renders',
  comparison,
  comparisonValue: blindEmpty.renders,
  renders: empty.renders,
  releases: empty.releases,
  naiveReleases: blindEmpty.releases,
  goal: 0,
  ms: Math.round(empty.ms),
  naiveMs: Math.round(blindEmpty.ms),
});
