import { describe, expect, it } from 'vitest';
import { EKS_TOKEN_PREFIX, eksToken } from '../../shared/adapters/k8s/eks.ts';
import { EKS_VECTOR } from '../fixtures/eks-token-vector.ts';

describe('eksToken', () => {
  it('builds the same token as aws eks get-token for the same credentials, cluster and time', async () => {
    // GIVEN the fixed inputs of the botocore-computed vector
    const { cluster, region, credentials, now } = EKS_VECTOR;

    // WHEN Sluice builds the token
    const token = await eksToken({ cluster, region, credentials, now });

    // THEN it is the CLI's, byte for byte: k8s-aws-v1. + base64url (no padding) of the presigned URL
    expect(token).toBe(EKS_VECTOR.token);
    expect(token.startsWith(EKS_TOKEN_PREFIX)).toBe(true);
    expect(token).not.toMatch(/[=+/]/);
    expect(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString('utf8')).toBe(
      EKS_VECTOR.url,
    );
  });

  it('signs the cluster name: another cluster or another second gives another signature', async () => {
    // GIVEN the vector's inputs WHEN the cluster or the time changes THEN so does the token
    const { region, credentials, now } = EKS_VECTOR;
    const other = await eksToken({ cluster: 'other', region, credentials, now });
    const later = await eksToken({ ...EKS_VECTOR, now: new Date(now.getTime() + 1000) });
    expect(other).not.toBe(EKS_VECTOR.token);
    expect(later).not.toBe(EKS_VECTOR.token);
  });
});
