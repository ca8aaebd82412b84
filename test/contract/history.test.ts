import { appendFile, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileHistory } from '../../shared/adapters/local/history.ts';
import { describeHistoryContract } from './history.contract.ts';

/** `sluice dev`'s record: the bus appends each event to state/events.jsonl, one JSON per line. */
describeHistoryContract('FileHistory (the workdir event log)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-history-'));
  await mkdir(join(dir, 'state'), { recursive: true });
  const file = join(dir, 'state', 'events.jsonl');
  return {
    record: async (events) => {
      for (const e of events) await appendFile(file, `${JSON.stringify(e)}\n`);
    },
    history: new FileHistory(file),
  };
});
