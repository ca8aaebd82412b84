/**
 * The RolloutTimer of `sluice dev`: each wake-up is written to a file in the workdir before it is
 * acknowledged, and a bounded timer loop hands those that are due to the rollout queue. Nothing
 * sleeps on a rollout's behalf: a bake is a line in the file, and a restarted `sluice dev` reads
 * the file and delivers what came due while it was down (docs/progressive-delivery.md).
 */
import type { RolloutTimer, RolloutWake } from '../../ports/index.ts';
import { Mutex, readJson, writeFileAtomic } from './json-file.ts';

interface Pending {
  readonly wake: RolloutWake;
  /** Epoch milliseconds. */
  readonly at: number;
}

const keyOf = (p: Pending) => `${p.wake.repo}#${p.wake.branch}#${p.wake.app}#${p.wake.generation}@${p.at}`;

export interface FileRolloutTimerOptions {
  /** The JSON file the scheduled wake-ups live in (state/rollout-timers.json). */
  readonly file: string;
  /** Puts a due wake-up on the rollout queue. */
  readonly deliver: (wake: RolloutWake) => Promise<void>;
  readonly now?: () => number;
  /** How often the loop looks for due wake-ups. @default 200 ms */
  readonly tickMs?: number;
}

export class FileRolloutTimer implements RolloutTimer {
  private readonly mutex = new Mutex();
  private pending: Pending[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  private readonly options: FileRolloutTimerOptions;

  constructor(options: FileRolloutTimerOptions) {
    this.options = options;
  }

  private async load(): Promise<Pending[]> {
    this.pending ??= await readJson<Pending[]>(this.options.file, []);
    return this.pending;
  }

  async schedule(wake: RolloutWake, at: Date): Promise<void> {
    await this.mutex.run(async () => {
      const pending = await this.load();
      const entry = { wake: { ...wake }, at: at.getTime() };
      if (pending.some((p) => keyOf(p) === keyOf(entry))) return;
      pending.push(entry);
      await writeFileAtomic(this.options.file, `${JSON.stringify(pending)}\n`);
    });
    // A wake-up due now goes out at once, not at the next tick.
    if (at.getTime() <= this.now()) void this.tick().catch(() => undefined);
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Delivers every wake-up that is due; one is removed from the file only once it is on the queue. */
  private tick(): Promise<void> {
    this.running ??= this.mutex
      .run(async () => {
        const pending = await this.load();
        const now = this.now();
        const due = pending.filter((p) => p.at <= now);
        if (due.length === 0) return;
        for (const p of due) await this.options.deliver(p.wake);
        this.pending = pending.filter((p) => !due.includes(p));
        await writeFileAtomic(this.options.file, `${JSON.stringify(this.pending)}\n`);
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Starts the loop (delivering at once what came due while the host was down). */
  start(): void {
    if (this.timer) return;
    void this.tick().catch(() => undefined);
    this.timer = setInterval(() => void this.tick().catch(() => undefined), this.options.tickMs ?? 200);
    this.timer.unref();
  }

  /** How many wake-ups are scheduled and not yet delivered. */
  async size(): Promise<number> {
    return this.mutex.run(async () => (await this.load()).length);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
