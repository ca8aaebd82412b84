import { beforeAll, inject } from 'vitest';
import { describeClusterClientContract } from '../contract/cluster-client.contract.ts';
import { agentCluster, grantAgentRbac } from './harness.ts';

const kube = inject('kube');

beforeAll(async () => {
  await grantAgentRbac(kube);
});

describeClusterClientContract('KubernetesCluster (real kube-apiserver, the agent RBAC)', async () =>
  agentCluster(kube),
);
