import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { EventBus, EventLog } from '../../ports/index.ts';
import { type Envelope, EVENT_SOURCE, envelopeSchema, type OutboundEvent } from '../../schemas/events.ts';
import { validDetail } from '../event-detail.ts';

export interface BusRule {
  readonly name: string;
  readonly detailTypes: readonly string[];
  /** The events' source. @default 'sluice' */
  readonly source?: string;
  readonly deliver: (envelope: Envelope) => void;
}

/**
 * The in-process `sluice` bus: validates every detail against its schema (as the EventBridge
 * adapter does), fans out to rules, and appends every event to a JSON-lines log that
 * `sluice trace` and `sluice status` read.
 */
export class LocalEventBus implements EventBus, EventLog {
  private readonly rules: BusRule[] = [];
  private readonly listeners = new Set<(e: Envelope) => void>();
  private readonly logFile: string | undefined;
  private readonly memory: Envelope[] = [];
  private writing: Promise<void> = Promise.resolve();

  constructor(options: { logFile?: string } = {}) {
    this.logFile = options.logFile;
  }

  addRule(rule: BusRule): void {
    this.rules.push(rule);
  }

  /** Called for every event after it is logged; for progress output and tests. */
  subscribe(listener: (e: Envelope) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async publish(events: readonly OutboundEvent[]): Promise<void> {
    const envelopes = events.map((e): Envelope => {
      const detail = validDetail(e);
      return {
        version: '0',
        id: randomUUID(),
        'detail-type': e.detailType,
        source: EVENT_SOURCE,
        account: '000000000000',
        time: new Date().toISOString(),
        region: 'local',
        resources: [],
        detail,
      };
    });
    await this.record(envelopes);
  }

  /**
   * Puts an event from another source (e.g. a CloudWatch alarm state change, which AWS puts on the
   * account's default bus) through the same rules and log, as EventBridge would deliver it.
   */
  async publishRaw(envelope: Envelope): Promise<void> {
    await this.record([envelopeSchema.parse(envelope)]);
  }

  private async record(envelopes: Envelope[]): Promise<void> {
    this.memory.push(...envelopes);
    if (this.logFile) {
      const file = this.logFile;
      const lines = envelopes.map((e) => `${JSON.stringify(e)}\n`).join('');
      this.writing = this.writing.then(async () => {
        await mkdir(dirname(file), { recursive: true });
        await appendFile(file, lines);
      });
      await this.writing;
    }
    for (const envelope of envelopes) {
      for (const rule of this.rules) {
        if ((rule.source ?? EVENT_SOURCE) !== envelope.source) continue;
        if (rule.detailTypes.includes(envelope['detail-type'])) rule.deliver(envelope);
      }
      for (const listener of this.listeners) listener(envelope);
    }
  }

  /** Events published in this process, oldest first. */
  get events(): readonly Envelope[] {
    return this.memory;
  }

  async find(filter: { commit?: string; traceId?: string }): Promise<Envelope[]> {
    const all = this.logFile ? await readEventLog(this.logFile) : this.memory;
    return all.filter((e) => matches(e, filter));
  }
}

const matches = (e: Envelope, filter: { commit?: string; traceId?: string }): boolean => {
  const d = e.detail as { commit?: string; traceId?: string; supersededBy?: string };
  if (filter.traceId && d.traceId !== filter.traceId) return false;
  if (filter.commit && !(d.commit?.startsWith(filter.commit) || d.supersededBy?.startsWith(filter.commit)))
    return false;
  return true;
};

export const readEventLog = async (file: string): Promise<Envelope[]> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: Envelope[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as Envelope);
    } catch {
      // A torn last line from a crash: skip it, the rest of the log still tells the story.
    }
  }
  return out;
};
