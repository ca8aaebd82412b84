import { SluiceError } from '../../errors.ts';
import type { KubeObject } from '../../ports/index.ts';
import type { KubeHttp } from './kube-http.ts';

export interface ResourceInfo {
  readonly plural: string;
  readonly namespaced: boolean;
}

/** kind → REST resource, from the server's discovery documents, cached per group/version. */
export class Discovery {
  readonly #http: KubeHttp;
  readonly #cache = new Map<string, Map<string, ResourceInfo>>();

  constructor(http: KubeHttp) {
    this.#http = http;
  }

  async #load(apiVersion: string): Promise<Map<string, ResourceInfo>> {
    const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const res = await this.#http.send('GET', path);
    const kinds = new Map<string, ResourceInfo>();
    if (res.status === 200 && Array.isArray(res.body.resources)) {
      for (const r of res.body.resources as { name: string; kind: string; namespaced: boolean }[]) {
        if (!r.name.includes('/')) kinds.set(r.kind, { plural: r.name, namespaced: r.namespaced });
      }
    }
    this.#cache.set(apiVersion, kinds);
    return kinds;
  }

  /** Looks a kind up, refreshing once on a miss (a CRD applied a moment ago). */
  async resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const cached = this.#cache.get(apiVersion)?.get(kind);
    if (cached) return cached;
    const found = (await this.#load(apiVersion)).get(kind);
    if (found) return found;
    throw new SluiceError(
      'UNKNOWN_KIND',
      `the cluster does not serve ${kind} in ${apiVersion}. Fix: install its CustomResourceDefinition (in this bundle or beforehand) or correct apiVersion/kind`,
      { data: { apiVersion, kind, object: `${kind}/${apiVersion}` } },
    );
  }

  forget(apiVersion: string): void {
    this.#cache.delete(apiVersion);
  }

  /** `/apis/apps/v1/namespaces/web/deployments/api` (without the name when `name` is false). */
  async path(object: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>, withName = true): Promise<string> {
    const info = await this.resource(object.apiVersion, object.kind);
    const base = object.apiVersion.includes('/') ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
    const ns = info.namespaced
      ? `/namespaces/${encodeURIComponent(object.metadata.namespace ?? 'default')}`
      : '';
    return `${base}${ns}/${info.plural}${withName ? `/${encodeURIComponent(object.metadata.name)}` : ''}`;
  }
}
