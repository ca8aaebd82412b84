/**
 * EKS through IAM: the endpoint and CA from DescribeCluster, and a bearer token built the way
 * `aws eks get-token` builds it — a presigned STS GetCallerIdentity URL (60 s, header
 * `x-k8s-aws-id: <cluster>` signed), base64url without padding, prefixed `k8s-aws-v1.`. EKS
 * accepts such a token for 15 minutes; the Lambda agent rebuilds it every 10. Never logged.
 */
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { AwsSettings } from '../../config/env.ts';
import { NotFoundError } from '../../errors.ts';
import { clientConfig } from '../aws/client-config.ts';
import { translateAwsError } from '../aws/errors.ts';
import { KubeHttp } from './kube-http.ts';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';

export interface EksTokenInput {
  readonly cluster: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity;
  readonly now: Date;
}

/** RFC 3986 encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
const encode = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Query order of `aws eks get-token`'s URL, so the token is byte-for-byte the CLI's. */
const QUERY_ORDER = [
  'Action',
  'Version',
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-SignedHeaders',
  'X-Amz-Expires',
  'X-Amz-Security-Token',
  'X-Amz-Signature',
];

export const eksToken = async (input: EksTokenInput): Promise<string> => {
  const hostname = `sts.${input.region}.amazonaws.com`;
  const signer = new SignatureV4({
    service: 'sts',
    region: input.region,
    credentials: input.credentials,
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname, 'x-k8s-aws-id': input.cluster },
    },
    { expiresIn: 60, signingDate: input.now },
  );
  const query = signed.query as Record<string, string>;
  const keys = [
    ...QUERY_ORDER.filter((k) => k in query),
    ...Object.keys(query).filter((k) => !QUERY_ORDER.includes(k)),
  ];
  const url = `https://${hostname}/?${keys.map((k) => `${encode(k)}=${encode(query[k] ?? '')}`).join('&')}`;
  return `${EKS_TOKEN_PREFIX}${Buffer.from(url, 'utf8').toString('base64url')}`;
};

export interface EksAccessOptions {
  readonly aws: AwsSettings;
  readonly client?: EKSClient;
  /** @default the SDK's default chain (in Lambda: the function role) */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** A connection to the EKS cluster `name` in this account/region, with a fresh token. */
export const eksKubeHttp =
  (options: EksAccessOptions) =>
  async (name: string): Promise<KubeHttp> => {
    const client = options.client ?? new EKSClient(clientConfig(options.aws));
    const credentials = options.credentials ?? defaultProvider();
    let cluster: {
      endpoint?: string | undefined;
      certificateAuthority?: { data?: string | undefined } | undefined;
    };
    try {
      cluster = (await client.send(new DescribeClusterCommand({ name }))).cluster ?? {};
    } catch (error) {
      throw translateAwsError(error, `EKS cluster "${name}"`, { cluster: name });
    }
    const ca = cluster.certificateAuthority?.data;
    if (!cluster.endpoint || !ca) {
      throw new NotFoundError(
        `endpoint and certificate authority of EKS cluster "${name}" (is it still creating?)`,
        {
          cluster: name,
        },
      );
    }
    const token = await eksToken({
      cluster: name,
      region: options.aws.region,
      credentials: await credentials(),
      now: (options.now ?? (() => new Date()))(),
    });
    return KubeHttp.fromToken({ server: cluster.endpoint, caData: ca, token, name });
  };
