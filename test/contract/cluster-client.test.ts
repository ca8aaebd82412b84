import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryCluster } from '../../shared/adapters/local/directory-cluster.ts';
import { describeClusterClientContract } from './cluster-client.contract.ts';

describeClusterClientContract(
  'DirectoryCluster (sluice dev targets)',
  async () => new DirectoryCluster(await mkdtemp(join(tmpdir(), 'sluice-target-contract-'))),
);
