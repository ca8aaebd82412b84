import { MemoryIdempotencyStore } from '../../shared/adapters/local/memory.ts';
import { describeIdempotencyContract } from './idempotency.contract.ts';

describeIdempotencyContract(
  'MemoryIdempotencyStore (sluice dev, tests)',
  async (now) => new MemoryIdempotencyStore({ now: () => new Date(now()) }),
);
