/**
 * The Git provider of `sluice dev`: commit statuses are kept in `<workdir>/state/statuses.json`
 * (latest per repo, commit and context, with its history) and handed to `onStatus` for printing.
 */
import type { CommitState, GitProvider } from '../../ports/index.ts';
import { Mutex, readJson, writeFileAtomic } from './json-file.ts';

export interface RecordedStatus {
  readonly state: CommitState;
  readonly description: string;
  readonly url?: string;
  readonly updatedAt: string;
  readonly history: { state: CommitState; description: string; at: string }[];
}

/** `{ "<repo>@<commit>": { "<context>": RecordedStatus } }` */
export type StatusFile = Record<string, Record<string, RecordedStatus>>;

export interface StatusEntry {
  readonly repo: string;
  readonly commit: string;
  readonly context: string;
  readonly state: CommitState;
  readonly description: string;
  readonly url?: string;
}

export class RecordingGitProvider implements GitProvider {
  readonly #file: string;
  readonly #onStatus: ((entry: StatusEntry) => void) | undefined;
  readonly #now: () => Date;
  readonly #mutex = new Mutex();

  constructor(file: string, options: { onStatus?: (entry: StatusEntry) => void; now?: () => Date } = {}) {
    this.#file = file;
    this.#onStatus = options.onStatus;
    this.#now = options.now ?? (() => new Date());
  }

  setStatus(input: StatusEntry): Promise<void> {
    return this.#mutex.run(async () => {
      const all = await readJson<StatusFile>(this.#file, {});
      const key = `${input.repo}@${input.commit}`;
      const at = this.#now().toISOString();
      const previous = all[key]?.[input.context];
      all[key] = {
        ...all[key],
        [input.context]: {
          state: input.state,
          description: input.description,
          ...(input.url ? { url: input.url } : {}),
          updatedAt: at,
          history: [...(previous?.history ?? []), { state: input.state, description: input.description, at }],
        },
      };
      await writeFileAtomic(this.#file, `${JSON.stringify(all, null, 2)}\n`);
      this.#onStatus?.(input);
    });
  }

  /** The statuses of one commit, by context. */
  async statuses(repo: string, commit: string): Promise<Record<string, RecordedStatus>> {
    return (await readJson<StatusFile>(this.#file, {}))[`${repo}@${commit}`] ?? {};
  }
}
