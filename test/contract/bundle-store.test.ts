import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBundleStore } from '../../shared/adapters/local/bundle-store.ts';
import { describeBundleStoreContract } from './bundle-store.contract.ts';

describeBundleStoreContract('FileBundleStore (sluice dev)', async () => {
  const root = await mkdtemp(join(tmpdir(), 'sluice-bundles-contract-'));
  return {
    store: new FileBundleStore(root),
    tamper: (key, bytes) => writeFile(join(root, key), bytes),
  };
});
