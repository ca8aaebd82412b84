import { applyUpdate, newestRecord } from '../../core/ledger.ts';
import { ConflictError } from '../../errors.ts';
import type {
  BranchState,
  DeploymentRecord,
  DeploymentUpdate,
  Ledger,
  RolloutLedger,
  RolloutRecord,
} from '../../ports/index.ts';
import { Mutex, readJson, writeFileAtomic } from './json-file.ts';

interface LedgerFile {
  branches: Record<string, BranchState>;
  deployments: Record<string, DeploymentRecord>;
  /** Progressive rollouts by repo#branch#app (absent in files written before them). */
  rollouts?: Record<string, RolloutRecord>;
}

/** Deployments above which ledger.json is written compact rather than indented. */
const COMPACT_ABOVE = 1_000;

/** One record per (repo, app, target): two repos with an app of the same name never share one. */
const deploymentKey = (app: string, target: string, repo: string) => `${app}@${target}@${repo}`;
/** Records written before the key named the repo (one per app and target). */
const legacyKey = (app: string, target: string) => `${app}@${target}`;

/** The record of (repo, app, target), or the legacy (app, target) record when it is that repo's. */
const currentRecord = (
  data: LedgerFile,
  app: string,
  target: string,
  repo: string,
): DeploymentRecord | undefined => {
  const legacy = data.deployments[legacyKey(app, target)];
  return data.deployments[deploymentKey(app, target, repo)] ?? (legacy?.repo === repo ? legacy : undefined);
};

/**
 * The deployment ledger as one JSON file (memory only when `file` is omitted). Writes go through
 * a mutex and check versions, so concurrent handlers in one process never lose an update.
 *
 * The process that writes (`sluice dev`) owns the file: it reads it once and then serves from
 * memory, and concurrent writers share one file write (a write resolves once a flush that
 * includes it has landed). Other processes (`sluice status`) only read the file.
 */
export class FileLedger implements Ledger, RolloutLedger {
  private readonly file: string | undefined;
  private readonly mutex = new Mutex();
  private memory: LedgerFile = { branches: {}, deployments: {} };
  private loaded: Promise<void> | undefined;
  private requested = 0;
  private written = 0;
  private writer: Promise<void> | undefined;
  /** How long the last file write took, and when it ended (performance.now()). */
  private lastWriteMs = 0;
  private lastWriteEnd = 0;

  constructor(file?: string) {
    this.file = file;
  }

  private async load(): Promise<LedgerFile> {
    const file = this.file;
    if (file) {
      this.loaded ??= readJson<LedgerFile>(file, { branches: {}, deployments: {} }).then((data) => {
        this.memory = data;
      });
      await this.loaded;
    }
    return this.memory;
  }

  /** Resolves once the file holds every change made before the call. */
  private async persist(): Promise<void> {
    const file = this.file;
    if (!file) return;
    const wanted = ++this.requested;
    while (this.written < wanted) {
      this.writer ??= (async () => {
        // The whole file is written each time, so a big ledger (10,000 targets) costs more per
        // write: the next write starts no sooner than the last one's time after it, and carries
        // every change made meanwhile. Writing then takes at most half of the time whatever the
        // size; a small ledger's wait is a millisecond. A big one is written without indentation
        // (half the time to build, a fifth fewer bytes).
        const wait = this.lastWriteEnd + this.lastWriteMs - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const upTo = this.requested;
        const started = performance.now();
        const indent = Object.keys(this.memory.deployments).length > COMPACT_ABOVE ? undefined : 2;
        await writeFileAtomic(file, `${JSON.stringify(this.memory, null, indent)}\n`);
        this.lastWriteEnd = performance.now();
        this.lastWriteMs = this.lastWriteEnd - started;
        this.written = Math.max(this.written, upTo);
      })().finally(() => {
        this.writer = undefined;
      });
      await this.writer;
    }
  }

  async getBranch(repo: string, branch: string): Promise<BranchState | undefined> {
    return this.mutex.run(async () => (await this.load()).branches[`${repo}#${branch}`]);
  }

  async putBranch(state: Omit<BranchState, 'version'>, expectedVersion: number): Promise<BranchState> {
    const next = await this.mutex.run(async () => {
      const data = await this.load();
      const key = `${state.repo}#${state.branch}`;
      const current = data.branches[key]?.version ?? 0;
      if (current !== expectedVersion)
        throw new ConflictError(`branch state ${key}`, { expectedVersion, current });
      const written = { ...state, version: current + 1 };
      data.branches[key] = written;
      return written;
    });
    await this.persist();
    return next;
  }

  async getDeployment(app: string, target: string, repo?: string): Promise<DeploymentRecord | undefined> {
    return this.mutex.run(async () => {
      const data = await this.load();
      if (repo !== undefined) return currentRecord(data, app, target, repo);
      return newestRecord(
        Object.values(data.deployments).filter((r) => r.app === app && r.target === target),
      );
    });
  }

  async recordDeployment(update: DeploymentUpdate): Promise<DeploymentRecord> {
    let changed = false;
    const next = await this.mutex.run(async () => {
      const data = await this.load();
      const current = currentRecord(data, update.app, update.target, update.repo);
      const record = applyUpdate(current, update);
      if (record !== current) {
        data.deployments[deploymentKey(update.app, update.target, update.repo)] = record;
        // A record under the old (app, target) key moves to its repo's key on its first write.
        const legacy = legacyKey(update.app, update.target);
        if (data.deployments[legacy]?.repo === update.repo) delete data.deployments[legacy];
        changed = true;
      }
      return record;
    });
    if (changed) await this.persist();
    return next;
  }

  async listDeployments(): Promise<DeploymentRecord[]> {
    return this.mutex.run(async () =>
      Object.values((await this.load()).deployments).sort(
        (a, b) =>
          a.app.localeCompare(b.app) || a.target.localeCompare(b.target) || a.repo.localeCompare(b.repo),
      ),
    );
  }

  async getRollout(repo: string, branch: string, app: string): Promise<RolloutRecord | undefined> {
    return this.mutex.run(async () => (await this.load()).rollouts?.[`${repo}#${branch}#${app}`]);
  }

  async putRollout(record: Omit<RolloutRecord, 'version'>, expectedVersion: number): Promise<RolloutRecord> {
    const next = await this.mutex.run(async () => {
      const data = await this.load();
      const key = `${record.repo}#${record.branch}#${record.app}`;
      data.rollouts ??= {};
      const current = data.rollouts[key]?.version ?? 0;
      if (current !== expectedVersion)
        throw new ConflictError(`rollout ${key}`, { expectedVersion, current });
      const written = { ...structuredClone(record), version: current + 1 };
      data.rollouts[key] = written;
      return structuredClone(written);
    });
    await this.persist();
    return next;
  }

  async listRollouts(): Promise<RolloutRecord[]> {
    return this.mutex.run(async () =>
      Object.values((await this.load()).rollouts ?? {})
        .map((r) => structuredClone(r))
        .sort((a, b) => a.app.localeCompare(b.app) || a.repo.localeCompare(b.repo)),
    );
  }
}
