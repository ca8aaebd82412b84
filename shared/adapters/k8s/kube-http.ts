/**
 * Raw requests to a Kubernetes API server. @kubernetes/client-node supplies only the connection
 * (KubeConfig: server, CA, client certs, tokens, exec plugins); bodies go out as the bytes we
 * give, because its typed serializer drops fields its model does not know (CRD fields, newer
 * API fields) and Sluice must apply manifests unaltered.
 */
import { request } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { SluiceError, UnavailableError } from '../../errors.ts';

export interface KubeResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Statuses a retry can fix: throttling, timeouts, server trouble. */
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

export class KubeHttp {
  readonly config: KubeConfig;
  readonly server: string;

  constructor(config: KubeConfig) {
    const cluster = config.getCurrentCluster();
    if (!cluster) {
      throw new SluiceError(
        'KUBECONFIG_INVALID',
        'the kubeconfig has no current cluster. Fix: set current-context',
        {},
      );
    }
    this.config = config;
    this.server = cluster.server.replace(/\/$/, '');
  }

  static fromFile(path: string): KubeHttp {
    return load(
      (c) => c.loadFromFile(path),
      `kubeconfig ${path} could not be read. Fix: pass a readable kubeconfig file`,
      {
        path,
      },
    );
  }

  /** A kubeconfig held as text (from Secrets Manager); never logged. */
  static fromText(text: string, source: string): KubeHttp {
    return load(
      (c) => c.loadFromString(text),
      `the kubeconfig in ${source} is not valid YAML/JSON. Fix: store a kubeconfig there`,
      { source },
    );
  }

  /** A server, its CA (base64 PEM, as EKS returns it) and a bearer token (EKS over IAM); never logged. */
  static fromToken(options: { server: string; caData: string; token: string; name: string }): KubeHttp {
    const { server, caData, token, name } = options;
    return load(
      (c) =>
        c.loadFromOptions({
          clusters: [{ name, server, caData, skipTLSVerify: false }],
          users: [{ name, token }],
          contexts: [{ name, cluster: name, user: name }],
          currentContext: name,
        }),
      `the connection settings of cluster ${name} are invalid. Fix: check its endpoint and CA`,
      { cluster: name },
    );
  }

  /** The pod's service account (`sluice agent --in-cluster`). */
  static inCluster(): KubeHttp {
    const config = new KubeConfig();
    config.loadFromCluster();
    return new KubeHttp(config);
  }

  /**
   * Sends one request. 404 comes back as a response (callers decide what absence means); other
   * failures are translated: retryable statuses and network errors to UNAVAILABLE, the rest stay
   * responses for the caller to name.
   */
  async send(
    method: string,
    path: string,
    body?: string,
    contentType = 'application/json',
  ): Promise<KubeResponse> {
    const url = new URL(`${this.server}${path}`);
    const options: import('node:https').RequestOptions & { headers: Record<string, string> } = {
      method,
      headers: { accept: 'application/json' },
    };
    await this.config.applyToHTTPSOptions(options);
    if (body !== undefined) options.headers['content-type'] = contentType;
    let response: KubeResponse;
    try {
      response = await new Promise<KubeResponse>((ok, fail) => {
        const req = request(url, { ...options, timeout: 60_000 }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', fail);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: Record<string, unknown> = {};
            try {
              parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
            } catch {
              parsed = { message: text.slice(0, 500) };
            }
            ok({ status: res.statusCode ?? 0, body: parsed });
          });
        });
        req.on('timeout', () => req.destroy(new Error('request timed out after 60 s')));
        req.on('error', fail);
        req.end(body);
      });
    } catch (error) {
      throw new UnavailableError(`the Kubernetes API server ${this.server}`, error, { method, path });
    }
    if (RETRYABLE.has(response.status)) {
      throw new UnavailableError(
        `the Kubernetes API server ${this.server} (${method} ${path} answered ${response.status}: ${messageOf(response)})`,
        undefined,
        { method, path, status: response.status },
      );
    }
    return response;
  }
}

const load = (
  fill: (config: KubeConfig) => void,
  message: string,
  data: Record<string, unknown>,
): KubeHttp => {
  const config = new KubeConfig();
  try {
    fill(config);
  } catch (error) {
    throw new SluiceError('KUBECONFIG_INVALID', message, { data, cause: error });
  }
  return new KubeHttp(config);
};

export const messageOf = (response: KubeResponse): string =>
  typeof response.body.message === 'string' ? response.body.message : `HTTP ${response.status}`;
