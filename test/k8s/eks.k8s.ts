import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EKSClient } from '@aws-sdk/client-eks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eksKubeHttp } from '../../shared/adapters/k8s/eks.ts';
import { RefreshingCluster } from '../../shared/adapters/k8s/secret-kubeconfig.ts';
import { EKS_VECTOR } from '../fixtures/eks-token-vector.ts';
import { grantAgentRbac } from './harness.ts';

/**
 * DescribeCluster is answered by a local server speaking the EKS REST API (GET /clusters/{name}):
 * LocalStack's free edition has no EKS. The API server is the real one, whose token file holds
 * the botocore-computed token of EKS_VECTOR for the agent user.
 */
const kube = inject('kube');
let eks: Server;
const described: string[] = [];

beforeAll(async () => {
  await grantAgentRbac(kube);
  eks = createServer((req, res) => {
    described.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        cluster: {
          name: EKS_VECTOR.cluster,
          endpoint: kube.server,
          certificateAuthority: { data: Buffer.from(kube.ca).toString('base64') },
          status: 'ACTIVE',
        },
      }),
    );
  });
  await new Promise<void>((ok) => eks.listen(0, '127.0.0.1', ok));
});

afterAll(async () => {
  await new Promise((ok) => eks.close(ok));
});

const connect = (now: Date) =>
  eksKubeHttp({
    aws: { region: EKS_VECTOR.region },
    client: new EKSClient({
      region: EKS_VECTOR.region,
      endpoint: `http://127.0.0.1:${(eks.address() as AddressInfo).port}`,
      credentials: EKS_VECTOR.credentials,
    }),
    credentials: async () => EKS_VECTOR.credentials,
    now: () => now,
  });

describe('EKS over IAM (the Lambda agent)', () => {
  it("reaches the cluster DescribeCluster names with the CLI's token as bearer", async () => {
    // GIVEN a cluster client for an EKS target, with the vector's credentials and time
    const cluster = new RefreshingCluster(() => connect(EKS_VECTOR.now)(EKS_VECTOR.cluster));

    // WHEN the agent reads the cluster's inventories
    const inventories = await cluster.listInventories();

    // THEN the API server authenticated the token as the agent, and the endpoint came from DescribeCluster
    expect(Array.isArray(inventories)).toBe(true);
    expect(described).toContain(`GET /clusters/${EKS_VECTOR.cluster}`);
  });

  it('is refused as CLUSTER_UNAUTHORIZED with a token the API server does not know, naming no token', async () => {
    // GIVEN a token signed a second later (valid in form, unknown to this API server)
    const cluster = new RefreshingCluster(() =>
      connect(new Date(EKS_VECTOR.now.getTime() + 1000))(EKS_VECTOR.cluster),
    );

    // WHEN the agent reads THEN it is unauthorized, and the error carries no token
    const error = await cluster.listInventories().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'CLUSTER_UNAUTHORIZED' });
    expect(JSON.stringify({ error, message: (error as Error).message })).not.toContain('k8s-aws-v1.');
  });
});
