import { applyUpdate } from '../../core/ledger.ts';
import { ConflictError } from '../../errors.ts';
import type { BranchState, DeploymentRecord, DeploymentUpdate, Ledger } from '../../ports/index.ts';
import { Mutex, readJson, writeFileAtomic } from './json-file.ts';

interface LedgerFile {
  branches: Record<string, BranchState>;
  deployments: Record<string, DeploymentRecord>;
}

/**
 * The deployment ledger as one JSON file (memory only when `file` is omitted). Writes go through
 * a mutex and check versions, so concurrent handlers in one process never lose an update.
 */
export class FileLedger implements Ledger {
  private readonly file: string | undefined;
  private readonly mutex = new Mutex();
  private memory: LedgerFile = { branches: {}, deployments: {} };

  constructor(file?: string) {
    this.file = file;
  }

  private async load(): Promise<LedgerFile> {
    if (this.file) this.memory = await readJson<LedgerFile>(this.file, { branches: {}, deployments: {} });
    return this.memory;
  }

  private async save(data: LedgerFile): Promise<void> {
    this.memory = data;
    if (this.file) await writeFileAtomic(this.file, `${JSON.stringify(data, null, 2)}\n`);
  }

  async getBranch(repo: string, branch: string): Promise<BranchState | undefined> {
    return this.mutex.run(async () => (await this.load()).branches[`${repo}#${branch}`]);
  }

  async putBranch(state: Omit<BranchState, 'version'>, expectedVersion: number): Promise<BranchState> {
    return this.mutex.run(async () => {
      const data = await this.load();
      const key = `${state.repo}#${state.branch}`;
      const current = data.branches[key]?.version ?? 0;
      if (current !== expectedVersion)
        throw new ConflictError(`branch state ${key}`, { expectedVersion, current });
      const next = { ...state, version: current + 1 };
      data.branches[key] = next;
      await this.save(data);
      return next;
    });
  }

  async getDeployment(app: string, target: string): Promise<DeploymentRecord | undefined> {
    return this.mutex.run(async () => (await this.load()).deployments[`${app}@${target}`]);
  }

  async recordDeployment(update: DeploymentUpdate): Promise<DeploymentRecord> {
    return this.mutex.run(async () => {
      const data = await this.load();
      const key = `${update.app}@${update.target}`;
      const next = applyUpdate(data.deployments[key], update);
      if (next !== data.deployments[key]) {
        data.deployments[key] = next;
        await this.save(data);
      }
      return next;
    });
  }

  async listDeployments(): Promise<DeploymentRecord[]> {
    return this.mutex.run(async () =>
      Object.values((await this.load()).deployments).sort(
        (a, b) => a.app.localeCompare(b.app) || a.target.localeCompare(b.target),
      ),
    );
  }
}
