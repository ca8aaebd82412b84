/**
 * Progressive delivery (docs/progressive-delivery.md): an app's release reaches its targets wave
 * by wave. Plan writes the rollout (its waves) to the ledger; dispatch holds every apply request
 * there instead of sending it; the rollout stage, woken by the RolloutTimer (a report, a bake's
 * end, an approval), hands each wave to its agents once the one before is Healthy, baked and, when
 * asked, approved. Every step is a versioned write of the rollout record, so a redelivered wake or
 * a restarted host advances each wave exactly once; no process sleeps while a wave bakes.
 */
import { BadInputError, ConfigError, isSluiceError } from '../errors.ts';
import type {
  AgentDispatcher,
  BundleSigner,
  Clock,
  EventBus,
  GitProvider,
  Ledger,
  RolloutLedger,
  RolloutRecord,
  RolloutState,
  RolloutTimer,
  RolloutWake,
  RolloutWave,
} from '../ports/index.ts';
import type { AppConfig, FleetConfig, TargetConfig } from '../schemas/config.ts';
import type {
  ApplyRequested,
  BundleVerified,
  RolloutApproved,
  RolloutProgressed,
} from '../schemas/events.ts';
import { selectTargets } from './config.ts';
import { requestApply } from './dispatch.ts';

/** The name of the implicit last wave: the app's targets no wave selects. */
export const REST_WAVE = 'rest';

/**
 * The waves of `app` over its `targets` (names, in config order): each target in the first wave
 * whose selector matches it (no selector: every target not placed yet), the others in an implicit
 * last wave. Undefined when the app has no `rollout` (every target at once, as always).
 */
export const wavesFor = (
  config: FleetConfig,
  app: AppConfig,
  targets: readonly string[],
): RolloutWave[] | undefined => {
  if (!app.rollout) return undefined;
  const placed = new Set<string>();
  const byName = new Map(config.targets.map((t) => [t.name, t]));
  const mine = targets.map((n) => byName.get(n)).filter((t): t is TargetConfig => t !== undefined);
  const waves: RolloutWave[] = app.rollout.waves.map((w) => {
    const selected = (w.targets ? selectTargets(w.targets, mine) : mine).filter((t) => !placed.has(t.name));
    for (const t of selected) placed.add(t.name);
    return {
      name: w.name,
      targets: selected.map((t) => t.name),
      bakeSeconds: w.bakeSeconds,
      approval: w.approval,
      ...(w.maxParallel ? { maxParallel: w.maxParallel } : {}),
      state: 'Waiting',
    };
  });
  const rest = mine.filter((t) => !placed.has(t.name)).map((t) => t.name);
  if (rest.length > 0) {
    // A wave the user named "rest" keeps its name; the implicit one then gets another.
    const name = waves.some((w) => w.name === REST_WAVE) ? `${REST_WAVE}-unplaced` : REST_WAVE;
    waves.push({ name, targets: rest, bakeSeconds: 0, approval: false, state: 'Waiting' });
  }
  return waves;
};

/** sluice.yaml: every wave selects at least one of its app's targets. */
export const checkWaves = (config: FleetConfig, file: string): void => {
  config.apps.forEach((app, i) => {
    if (!app.rollout) return;
    const targets = selectTargets(app.targets, config.targets).map((t) => t.name);
    const waves = wavesFor(config, app, targets) ?? [];
    app.rollout.waves.forEach((w, j) => {
      if ((waves[j]?.targets.length ?? 0) > 0) return;
      throw new ConfigError(
        file,
        `apps[${i}].rollout.waves[${j}]`,
        `wave "${w.name}" selects none of app ${app.name}'s targets (${targets.join(', ') || 'none'}) not already in an earlier wave`,
        'fix its targets selector, or remove the wave',
      );
    });
  });
};

export const rolloutLedger = (ledger: Ledger): RolloutLedger | undefined =>
  ledger.getRollout && ledger.putRollout && ledger.listRollouts
    ? (ledger as unknown as RolloutLedger)
    : undefined;

/** Reads, changes and writes a rollout record under its version, again on a concurrent write. */
const update = async (
  ledger: RolloutLedger,
  key: { repo: string; branch: string; app: string },
  change: (current: RolloutRecord | undefined) => Promise<Omit<RolloutRecord, 'version'> | undefined>,
): Promise<RolloutRecord | undefined> => {
  for (let attempt = 1; ; attempt++) {
    const current = await ledger.getRollout(key.repo, key.branch, key.app);
    const next = await change(current ? structuredClone(current) : undefined);
    if (next === undefined) return current;
    try {
      return await ledger.putRollout(next, current?.version ?? 0);
    } catch (error) {
      if (!isSluiceError(error) || error.code !== 'CONFLICT' || attempt >= 10) throw error;
    }
  }
};

/**
 * Plan: a new rollout of the app at this commit, from its first wave. It replaces a rollout of an
 * older generation still in progress (a newer commit supersedes it; its held requests are dropped).
 */
export const startRollout = async (
  deps: { ledger: Ledger; clock: Clock },
  input: {
    repo: string;
    branch: string;
    app: string;
    commit: string;
    generation: number;
    traceId: string;
    waves: RolloutWave[];
    dependsOn?: RolloutRecord['dependsOn'];
  },
): Promise<void> => {
  const ledger = rolloutLedger(deps.ledger);
  if (!ledger) return;
  await update(ledger, input, async (current) => {
    if (current && current.generation >= input.generation) return undefined;
    return {
      ...input,
      state: 'Progressing',
      current: 0,
      held: {},
      dispatched: [],
      approvals: {},
      updatedAt: deps.clock.now().toISOString(),
    };
  });
};

/**
 * Dispatch: when the bundle's app is rolled out in waves, its apply requests are kept in the
 * rollout record and the rollout is woken to send those of the current wave. False when there is
 * no rollout of this generation (the bundle is dispatched at once, as always).
 */
export const holdForRollout = async (
  deps: { ledger: Ledger; clock: Clock; timer?: RolloutTimer },
  verified: BundleVerified,
  requests: readonly ApplyRequested[],
): Promise<boolean> => {
  const ledger = rolloutLedger(deps.ledger);
  if (!ledger || !deps.timer) return false;
  const key = { repo: verified.repo, branch: verified.branch, app: verified.app };
  const current = await ledger.getRollout(key.repo, key.branch, key.app);
  if (!current || current.generation !== verified.generation) return false;
  await update(ledger, key, async (r) => {
    if (!r || r.generation !== verified.generation) return undefined;
    const fresh = requests.filter((q) => !(q.target.name in r.held) && !r.dispatched.includes(q.target.name));
    if (fresh.length === 0) return undefined;
    for (const q of fresh) r.held[q.target.name] = q;
    return { ...r, updatedAt: deps.clock.now().toISOString() };
  });
  await deps.timer.schedule(wakeOf(current), deps.clock.now());
  return true;
};

/**
 * apps[].dependsOn of an app with no waves: its targets in one wave with no gate, so dispatch
 * holds its requests and each goes out once the apps it depends on are Healthy on its target.
 */
export const dependencyWaves = (targets: readonly string[]): RolloutWave[] => [
  { name: REST_WAVE, targets: [...targets], bakeSeconds: 0, approval: false, state: 'Waiting' },
];

/**
 * The generation each app `app` depends on must reach on each target: the one of this release
 * where it releases that app to that target too (so both land in order), none elsewhere.
 */
export const dependencyGenerations = (
  dependsOn: readonly string[],
  releases: readonly { app: string; targets: readonly string[] }[],
  generation: number,
): NonNullable<RolloutRecord['dependsOn']> =>
  Object.fromEntries(
    dependsOn.map((dep) => [
      dep,
      Object.fromEntries(
        releases.filter((r) => r.app === dep).flatMap((r) => r.targets.map((t) => [t, generation])),
      ),
    ]),
  );

/**
 * Whether `target` of rollout `r` may be applied: every app it depends on is Healthy there (at the
 * generation this release takes it to, when it does), or not deployed there at all.
 */
const dependencyGate = async (
  ledger: Ledger,
  r: RolloutRecord,
  target: string,
): Promise<{ kind: 'ready' } | { kind: 'wait' } | { kind: 'failed'; reason: string }> => {
  for (const [dep, generations] of Object.entries(r.dependsOn ?? {})) {
    const wanted = generations[target] ?? 0;
    const refused = r.dependencyFailures?.[dep]?.[target];
    if (refused !== undefined) return { kind: 'failed', reason: refused };
    const rec = await ledger.getDeployment(dep, target, r.repo);
    if (!rec) {
      if (wanted > 0) return { kind: 'wait' };
      continue;
    }
    if (rec.generation < wanted) return { kind: 'wait' };
    // Removed: the app left this target, which is as good as never deployed there.
    if (rec.state === 'Healthy' || rec.state === 'Removed') continue;
    if (rec.state === 'Failed' || rec.state === 'RolledBack') {
      return {
        kind: 'failed',
        reason: `waiting on ${dep} which failed on ${target}${rec.reason ? `: ${rec.reason}` : ''}`.slice(
          0,
          500,
        ),
      };
    }
    return { kind: 'wait' };
  }
  return { kind: 'ready' };
};

export const wakeOf = (r: Pick<RolloutRecord, 'repo' | 'branch' | 'app' | 'generation'>): RolloutWake => ({
  repo: r.repo,
  branch: r.branch,
  app: r.app,
  generation: r.generation,
});

/** Report: an outcome of a target in a rollout wakes the rollout (its wave may now be Healthy). */
export const wakeOnOutcome = async (
  deps: { ledger: Ledger; clock: Clock; timer?: RolloutTimer },
  outcome: { repo: string; branch: string; app: string; generation: number },
): Promise<void> => {
  const ledger = rolloutLedger(deps.ledger);
  if (!ledger || !deps.timer) return;
  const r = await ledger.getRollout(outcome.repo, outcome.branch, outcome.app);
  if (r && r.generation === outcome.generation && !isFinal(r.state)) {
    await deps.timer.schedule(wakeOf(r), deps.clock.now());
  }
  // apps[].dependsOn: the rollouts of apps waiting on this one may now send (or give up on) a target.
  for (const app of await dependentsOf(ledger, outcome)) {
    const waiting = await ledger.getRollout(outcome.repo, outcome.branch, app);
    if (!waiting || isFinal(waiting.state) || !waiting.dependsOn || !(outcome.app in waiting.dependsOn))
      continue;
    await deps.timer.schedule(wakeOf(waiting), deps.clock.now());
  }
};

/**
 * apps[].dependsOn: the release of an app others wait on never reached some targets — its render
 * failed, policy or the trust policy refused it — so no outcome will ever come from there. The
 * rollouts of this generation waiting on it there record why and are woken, so those targets are
 * reported blocked instead of waiting forever.
 */
export const dependencyFailed = async (
  deps: { ledger: Ledger; clock: Clock; timer?: RolloutTimer },
  failure: {
    repo: string;
    branch: string;
    app: string;
    generation: number;
    targets: readonly string[];
    reason: string;
  },
): Promise<number> => {
  const ledger = rolloutLedger(deps.ledger);
  if (!ledger || !deps.timer || failure.targets.length === 0) return 0;
  let woken = 0;
  for (const app of await dependentsOf(ledger, failure)) {
    const updated = await update(ledger, { repo: failure.repo, branch: failure.branch, app }, async (r) => {
      const wanted = r?.dependsOn?.[failure.app];
      if (!r || !wanted || r.generation !== failure.generation || isFinal(r.state)) return undefined;
      const hit = failure.targets.filter(
        (t) => wanted[t] === failure.generation && r.dependencyFailures?.[failure.app]?.[t] === undefined,
      );
      if (hit.length === 0) return undefined;
      const reasons = { ...r.dependencyFailures?.[failure.app] };
      for (const t of hit)
        reasons[t] = `waiting on ${failure.app} which failed on ${t}: ${failure.reason}`.slice(0, 500);
      return {
        ...r,
        dependencyFailures: { ...r.dependencyFailures, [failure.app]: reasons },
        updatedAt: deps.clock.now().toISOString(),
      };
    });
    if (updated?.dependencyFailures?.[failure.app]) {
      await deps.timer.schedule(wakeOf(updated), deps.clock.now());
      woken++;
    }
  }
  return woken;
};

const isFinal = (state: RolloutState) => state === 'Halted' || state === 'Completed';

/** The apps whose rollouts of `repo`@`branch` wait on `app`: the ledger's index, else its list. */
const dependentsOf = async (
  ledger: RolloutLedger,
  of: { repo: string; branch: string; app: string },
): Promise<string[]> =>
  ledger.dependentsOf
    ? ledger.dependentsOf(of.repo, of.branch, of.app)
    : (await ledger.listRollouts())
        .filter((r) => r.repo === of.repo && r.branch === of.branch && r.dependsOn?.[of.app])
        .map((r) => r.app);

export interface RolloutDeps {
  readonly ledger: Ledger;
  readonly clock: Clock;
  readonly bus: EventBus;
  readonly agents: AgentDispatcher;
  readonly timer: RolloutTimer;
  readonly signer?: BundleSigner;
  /** A commit status per wave (`sluice/rollout/<app>/<wave>`). */
  readonly provider?: GitProvider;
}

type Step = RolloutProgressed['step'];

/**
 * The rollout stage: looks at a rollout again and takes every step its gates allow — sends the
 * current wave (at most maxParallel in flight), marks it Healthy and starts its bake (scheduling a
 * wake at its end), moves on once baked, waits for an approval, halts on a failed target.
 */
export const advanceRollout = async (
  deps: RolloutDeps,
  wake: RolloutWake,
): Promise<RolloutRecord | undefined> => {
  const ledger = rolloutLedger(deps.ledger);
  if (!ledger) return undefined;
  let steps: { wave: RolloutWave; step: Step; message: string }[] = [];
  let sends: ApplyRequested[] = [];
  let blocks: { request: ApplyRequested; reason: string }[] = [];
  let wakeAt: Date | undefined;
  const written = await update(ledger, wake, async (r) => {
    steps = [];
    sends = [];
    blocks = [];
    wakeAt = undefined;
    if (!r || r.generation !== wake.generation || isFinal(r.state)) return undefined;
    const now = deps.clock.now();
    const at = now.toISOString();
    let changed = false;
    for (let guard = 0; guard < r.waves.length * 4 + 4; guard++) {
      const wave = r.waves[r.current];
      if (!wave) {
        r.state = 'Completed';
        changed = true;
        break;
      }
      const note = (step: Step, message: string) => steps.push({ wave: { ...wave }, step, message });
      if (wave.state === 'Waiting') {
        if (wave.approval && !r.approvals[wave.name]) {
          wave.state = 'AwaitingApproval';
          r.state = 'AwaitingApproval';
          note(
            'awaiting-approval',
            `wave ${wave.name} waits for: sluice approve --app ${r.app} --wave ${wave.name}`,
          );
          changed = true;
          break;
        }
        wave.state = 'Progressing';
        wave.startedAt = at;
        r.state = 'Progressing';
        note('started', `wave ${wave.name} started on ${wave.targets.join(', ') || 'no target'}`);
        changed = true;
      }
      if (wave.state === 'AwaitingApproval') {
        const by = r.approvals[wave.name];
        if (!by) break;
        wave.state = 'Waiting';
        wave.approvedBy = by;
        note('approved', `wave ${wave.name} approved by ${by}`);
        changed = true;
        continue;
      }
      if (wave.state === 'Progressing') {
        const records = await Promise.all(
          wave.targets.map(async (t) => ({ t, rec: await deps.ledger.getDeployment(r.app, t, r.repo) })),
        );
        const at_ = (rec: (typeof records)[number]['rec']) => rec && rec.generation === r.generation;
        const blocked = r.blocked ?? {};
        const failed = records.find(({ t, rec }) => !(t in blocked) && at_(rec) && rec?.state === 'Failed');
        if (failed) {
          r.state = 'Halted';
          wave.state = 'Halted';
          r.reason = `${failed.t} failed in wave ${wave.name}: ${failed.rec?.reason ?? 'Failed'}`;
          note('halted', r.reason);
          changed = true;
          break;
        }
        const healthy = (rec: (typeof records)[number]['rec']) =>
          at_(rec) && (rec?.state === 'Healthy' || rec?.state === 'RolledBack');
        const settled = ({ t, rec }: (typeof records)[number]) => t in blocked || healthy(rec);
        // Sends what the wave's parallelism allows; the held requests not yet here arrive with dispatch.
        const inFlight = records.filter(({ t, rec }) => r.dispatched.includes(t) && !healthy(rec)).length;
        let room = (wave.maxParallel ?? Number.POSITIVE_INFINITY) - inFlight;
        for (const t of wave.targets) {
          if (room <= 0) break;
          const held = r.held[t];
          if (r.dispatched.includes(t) || !held) continue;
          const gate = await dependencyGate(deps.ledger, r, t);
          if (gate.kind === 'wait') continue;
          if (gate.kind === 'failed') {
            // Not applied: the ledger says why (sluice status), and the wave does not wait on it.
            blocks.push({ request: held as unknown as ApplyRequested, reason: gate.reason });
            blocked[t] = gate.reason;
            r.blocked = blocked;
            delete r.held[t];
            changed = true;
            continue;
          }
          sends.push(held as unknown as ApplyRequested);
          r.dispatched.push(t);
          delete r.held[t];
          room--;
          changed = true;
        }
        if (!records.every(settled)) break;
        wave.state = 'Baking';
        wave.healthyAt = at;
        wave.bakeUntil = new Date(now.getTime() + wave.bakeSeconds * 1000).toISOString();
        r.state = 'Baking';
        note('healthy', `every target of wave ${wave.name} is Healthy`);
        if (wave.bakeSeconds > 0) note('baking', `wave ${wave.name} bakes until ${wave.bakeUntil}`);
        changed = true;
      }
      if (wave.state === 'Baking') {
        const until = Date.parse(wave.bakeUntil ?? at);
        if (now.getTime() < until) {
          wakeAt = new Date(until);
          break;
        }
        wave.state = 'Completed';
        wave.bakedAt = at;
        note('baked', `wave ${wave.name} baked ${wave.bakeSeconds} s with no alarm`);
        r.current++;
        changed = true;
        if (r.current >= r.waves.length) {
          r.state = 'Completed';
          steps.push({ wave: { ...wave }, step: 'completed', message: `rollout of ${r.app} completed` });
          break;
        }
        continue;
      }
      break;
    }
    if (!changed) return undefined;
    return { ...r, updatedAt: at };
  });
  if (!written) return written;
  // Side effects after the write: a redelivery repeats none of them (the write moved the record on).
  for (const request of sends) await sendHeld(deps, request);
  for (const { request, reason } of blocks) await recordBlocked(deps, request, reason);
  if (wakeAt) await deps.timer.schedule(wake, wakeAt);
  await announce(deps, written, steps);
  return written;
};

/** A held request goes out as dispatch would send it: Pending in the ledger, then to the agent. */
const sendHeld = async (deps: RolloutDeps, request: ApplyRequested): Promise<void> => {
  const at = await recordHeld(deps, request, { state: 'Pending' });
  if (at) await requestApply(deps, { ...request, occurredAt: at });
};

/** A target whose dependency failed: Failed in the ledger with the reason, never sent. */
const recordBlocked = async (deps: RolloutDeps, request: ApplyRequested, reason: string): Promise<void> => {
  await recordHeld(deps, request, { state: 'Failed', reason });
};

/** The ledger record of a held request's target; undefined (no write) when it holds a newer generation. */
const recordHeld = async (
  deps: RolloutDeps,
  request: ApplyRequested,
  outcome: { state: 'Pending' | 'Failed'; reason?: string },
): Promise<string | undefined> => {
  const current = await deps.ledger.getDeployment(request.app, request.target.name, request.repo);
  if (current && current.generation > request.generation) return undefined;
  const at = deps.clock.now().toISOString();
  await deps.ledger.recordDeployment({
    app: request.app,
    target: request.target.name,
    repo: request.repo,
    branch: request.branch,
    commit: request.commit,
    generation: request.generation,
    digest: request.bundle.digest,
    bundleKey: request.bundle.key,
    traceId: request.traceId,
    ...(request.commitSignature ? { commitSignature: request.commitSignature } : {}),
    ...outcome,
    at,
  });
  return at;
};

const WAVE_STATE: Record<Step, RolloutState> = {
  started: 'Progressing',
  healthy: 'Progressing',
  baking: 'Baking',
  baked: 'Baking',
  'awaiting-approval': 'AwaitingApproval',
  approved: 'Progressing',
  halted: 'Halted',
  completed: 'Completed',
};

/** Each step on the bus (`sluice trace`) and as the wave's commit status. */
const announce = async (
  deps: Pick<RolloutDeps, 'bus' | 'clock' | 'provider'>,
  r: RolloutRecord,
  steps: readonly { wave: RolloutWave; step: Step; message: string }[],
): Promise<void> => {
  if (steps.length === 0) return;
  const occurredAt = deps.clock.now().toISOString();
  await deps.bus.publish(
    steps.map(({ wave, step, message }) => ({
      detailType: 'Rollout Progressed' as const,
      detail: {
        schemaVersion: 1 as const,
        traceId: r.traceId,
        repo: r.repo,
        branch: r.branch,
        commit: r.commit,
        occurredAt,
        app: r.app,
        wave: wave.name,
        step,
        state: WAVE_STATE[step],
        targets: [...wave.targets],
        message: message.slice(0, 500),
      },
    })),
  );
  if (!deps.provider) return;
  for (const { wave, step, message } of steps) {
    if (step === 'completed') continue;
    await deps.provider.setStatus({
      repo: r.repo,
      commit: r.commit,
      context: `sluice/rollout/${r.app}/${wave.name}`,
      state: step === 'halted' ? 'failure' : step === 'baked' ? 'success' : 'pending',
      description: message.slice(0, 140),
    });
  }
};

/**
 * An alarm of the app entered ALARM (or a person halted it): the rollout in progress stops, no
 * further wave starts. Returns the halted rollout (its generation: what a rollback may touch).
 */
export const haltRollout = async (
  deps: Pick<RolloutDeps, 'ledger' | 'clock' | 'bus'> & { provider?: GitProvider },
  key: { repo: string; branch: string; app: string },
  reason: string,
): Promise<RolloutRecord | undefined> => {
  const ledger = rolloutLedger(deps.ledger);
  if (!ledger) return undefined;
  let halted = false;
  const written = await update(ledger, key, async (r) => {
    halted = false;
    if (!r || isFinal(r.state)) return undefined;
    const wave = r.waves[r.current];
    if (wave) wave.state = 'Halted';
    halted = true;
    return { ...r, state: 'Halted', reason, updatedAt: deps.clock.now().toISOString() };
  });
  if (halted && written) {
    const wave = written.waves[written.current] ?? written.waves[written.waves.length - 1];
    if (wave) await announce(deps, written, [{ wave, step: 'halted', message: reason }]);
  }
  return written;
};

/** The rollout an alarm may roll back: only its targets at its generation took the release. */
export const rolloutOf = async (
  ledger: Ledger,
  key: { repo: string; branch: string; app: string },
): Promise<RolloutRecord | undefined> => rolloutLedger(ledger)?.getRollout(key.repo, key.branch, key.app);

/**
 * `sluice approve`: records the approval of `wave` on the app's rollout of that commit and wakes
 * it. An approval given before the wave is reached counts when it is.
 */
export const approveRollout = async (
  deps: Pick<RolloutDeps, 'ledger' | 'clock' | 'timer'>,
  approval: RolloutApproved,
): Promise<RolloutRecord[]> => {
  const ledger = rolloutLedger(deps.ledger);
  if (!ledger) return [];
  const approved: RolloutRecord[] = [];
  for (const r of await ledger.listRollouts()) {
    if (r.app !== approval.app || r.repo !== approval.repo || r.branch !== approval.branch) continue;
    if (r.commit !== approval.commit || isFinal(r.state)) continue;
    if (!r.waves.some((w) => w.name === approval.wave)) continue;
    const written = await update(ledger, r, async (cur) => {
      if (!cur || cur.generation !== r.generation || cur.approvals[approval.wave]) return undefined;
      cur.approvals[approval.wave] = approval.by ?? 'sluice approve';
      return { ...cur, updatedAt: deps.clock.now().toISOString() };
    });
    if (written) {
      approved.push(written);
      await deps.timer.schedule(wakeOf(written), deps.clock.now());
    }
  }
  return approved;
};

/** What `sluice status` shows of each rollout: the same read side for the CLI and a dashboard. */
export interface RolloutView {
  readonly app: string;
  readonly repo: string;
  readonly branch: string;
  readonly commit: string;
  readonly wave: string;
  readonly state: RolloutState;
  readonly waves: readonly { name: string; state: string; targets: readonly string[]; bakeUntil?: string }[];
  readonly reason?: string;
  readonly updatedAt: string;
}

export const rolloutViews = async (ledger: Ledger): Promise<RolloutView[]> => {
  const rl = rolloutLedger(ledger);
  if (!rl) return [];
  return (await rl.listRollouts()).map((r) => ({
    app: r.app,
    repo: r.repo,
    branch: r.branch,
    commit: r.commit,
    wave: (r.waves[r.current] ?? r.waves[r.waves.length - 1])?.name ?? '',
    state: r.state,
    waves: r.waves.map((w) => ({
      name: w.name,
      state: w.state,
      targets: w.targets,
      ...(w.bakeUntil ? { bakeUntil: w.bakeUntil } : {}),
    })),
    ...(r.reason ? { reason: r.reason } : {}),
    updatedAt: r.updatedAt,
  }));
};

/**
 * `sluice approve --app A --wave W [--commit SHA]`: one Rollout Approved per rollout of the app in
 * progress that has that wave (at that commit when given); an error naming what exists otherwise.
 */
export const approvalRequests = async (
  ledger: Ledger,
  input: { app: string; wave: string; commit?: string; by?: string },
  clock: Clock,
): Promise<RolloutApproved[]> => {
  const all = (await rolloutLedger(ledger)?.listRollouts()) ?? [];
  const open = all.filter((r) => r.app === input.app && !isFinal(r.state));
  const matching = open.filter(
    (r) => (!input.commit || r.commit.startsWith(input.commit)) && r.waves.some((w) => w.name === input.wave),
  );
  if (matching.length === 0) {
    const known = open.map((r) => `${r.commit.slice(0, 7)} (waves ${r.waves.map((w) => w.name).join(', ')})`);
    throw new BadInputError(
      `--app ${input.app} --wave ${input.wave}${input.commit ? ` --commit ${input.commit}` : ''}`,
      'matches no rollout in progress',
      known.length > 0
        ? `rollouts of ${input.app} in progress: ${known.join('; ')}`
        : 'check `sluice status`',
    );
  }
  return matching.map((r) => ({
    schemaVersion: 1,
    traceId: r.traceId,
    repo: r.repo,
    branch: r.branch,
    commit: r.commit,
    occurredAt: clock.now().toISOString(),
    app: r.app,
    wave: input.wave,
    ...(input.by ? { by: input.by } : {}),
  }));
};
