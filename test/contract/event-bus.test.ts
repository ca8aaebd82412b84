import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalEventBus, readEventLog } from '../../shared/adapters/local/event-bus.ts';
import { eventSchemas } from '../../shared/schemas/events.ts';
import { describeEventBusContract } from './event-bus.contract.ts';

describeEventBusContract('LocalEventBus (sluice dev, tests)', async () => {
  const logFile = join(await mkdtemp(join(tmpdir(), 'sluice-bus-contract-')), 'events.jsonl');
  const bus = new LocalEventBus({ logFile });
  const delivered: Parameters<Parameters<typeof bus.addRule>[0]['deliver']>[0][] = [];
  bus.addRule({ name: 'all', detailTypes: Object.keys(eventSchemas), deliver: (e) => delivered.push(e) });
  return {
    bus,
    received: async (count) => {
      // Delivery is synchronous; the log must agree with what the rules saw (`sluice trace` reads it).
      const logged = await readEventLog(logFile);
      if (logged.length !== delivered.length)
        throw new Error(`log holds ${logged.length}, rules saw ${delivered.length}`);
      return delivered.splice(0, Math.max(count, delivered.length));
    },
  };
});
