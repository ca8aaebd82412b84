import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { describeLedgerContract } from './ledger.contract.ts';

describeLedgerContract(
  'FileLedger in memory (tests, sluice dev without a workdir)',
  async () => new FileLedger(),
);

describeLedgerContract('FileLedger on disk (sluice dev)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-ledger-contract-'));
  return new FileLedger(join(dir, 'state', 'ledger.json'));
});
