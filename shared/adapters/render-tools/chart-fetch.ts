/**
 * Remote Helm charts, fetched once and kept content-addressed. A chart from a Helm HTTP
 * repository (`index.yaml` + `.tgz`) or an OCI registry is named in sluice.yaml by repository,
 * name, exact version and the sha256 digest of its archive. The archive is stored as
 * `<cacheDir>/sha256-<hex>.tgz`; a render whose digest is already there reads it from disk and
 * makes no request at all, so a chart renders offline after its first fetch.
 *
 * Everything here comes from a config repository or a server it names, so it is hostile:
 * - the chart archive must come from the repository's own origin (scheme, host and port) or a
 *   host the operator allows; redirects are followed only under the same rule (OCI blobs, whose
 *   bytes the digest pins, may be redirected to any https host, as registries do);
 * - a link-local address (cloud metadata endpoints) written as the host is never fetched;
 * - every response is bounded in bytes, the archive's unpacked size too (gzip bombs);
 * - the archive may hold only regular files and directories under relative paths: a `..`
 *   segment, an absolute path, a symlink, a hard link or a device is refused;
 * - a digest that differs from the recorded one, or from the one the repository's index
 *   advertises, is refused: the same version never silently changes content.
 * Nothing here runs a binary; helm later templates the verified archive with no network.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';

export interface ChartRef {
  /** `https://…`, `http://…` (a Helm repository) or `oci://host[:port]/path` (a registry). */
  readonly url: string;
  readonly name: string;
  readonly version: string;
  /** `sha256:<64 hex>` of the chart archive, as recorded in sluice.yaml. */
  readonly digest?: string | undefined;
}

export interface ChartFetchOptions {
  /** Where verified archives are kept, by digest. */
  readonly cacheDir: string;
  /** Hosts (`host` or `host:port`) a chart archive may come from besides the repository's own. */
  readonly allowedHosts?: readonly string[];
  /** Bytes of one download (index.yaml, manifest or archive); default 20 MiB. */
  readonly maxDownloadBytes?: number;
  /** Bytes of one archive unpacked; default 100 MiB (helm's own bound). */
  readonly maxUnpackedBytes?: number;
  /** One request's time bound; default 30 s. */
  readonly timeoutMs?: number;
}

export type ChartFetchResult =
  | { readonly ok: true; readonly file: string; readonly digest: string; readonly fetched: boolean }
  | { readonly ok: false; readonly message: string; readonly fix: string };

const DEFAULT_MAX_DOWNLOAD = 20 * 1024 * 1024;
const DEFAULT_MAX_UNPACKED = 100 * 1024 * 1024;
/** A big public repository's index.yaml runs to tens of MiB; it is parsed, never stored. */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HELM_LAYER = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A refusal or failure with its fix, thrown inside this module and returned as a result. */
class ChartError extends Error {
  readonly fix: string;
  constructor(message: string, fix: string) {
    super(message);
    this.fix = fix;
  }
}

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

const isLinkLocal = (host: string): boolean => /^169\.254\.\d+\.\d+$/.test(host) || /^\[fe[89ab]/i.test(host);

/** GET with a byte bound and a time bound; redirects only where `mayFollow` allows. */
const download = async (
  url: URL,
  what: string,
  options: ChartFetchOptions,
  mayFollow: (next: URL) => boolean,
  headers: Record<string, string> = {},
  max: number = options.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD,
): Promise<{ bytes: Uint8Array; response: Response }> => {
  let current = url;
  for (let hop = 0; hop < 5; hop++) {
    if (isLinkLocal(current.hostname))
      throw new ChartError(`${what} ${current.href} is a link-local address`, 'use the chart repository URL');
    let response: Response;
    try {
      response = await fetch(current, {
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      throw new ChartError(
        `could not fetch ${what} ${current.href}: ${(error as Error).cause ?? (error as Error).message}`,
        'check that the chart repository is reachable from the render host; once fetched, the chart is cached by its digest',
      );
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      const next = new URL(location, current);
      if (!mayFollow(next))
        throw new ChartError(
          `${what} ${current.href} redirects to ${next.origin}, which is not the chart repository's host`,
          'serve the chart from the repository host, or the operator allows that host (SLUICE_CHART_HOSTS)',
        );
      current = next;
      continue;
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (response.body) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        if (size > max) {
          await response.body.cancel().catch(() => undefined);
          throw new ChartError(
            `${what} ${current.href} is larger than ${max} bytes, the limit of one chart download`,
            'use a smaller chart, or the operator raises the limit',
          );
        }
        chunks.push(chunk);
      }
    }
    return { bytes: Buffer.concat(chunks), response };
  }
  throw new ChartError(
    `${what} ${url.href} redirects more than 5 times`,
    'give the final chart repository URL',
  );
};

const ok = (response: Response, what: string, url: URL): void => {
  if (!response.ok)
    throw new ChartError(
      `${what} ${url.href} answered HTTP ${response.status}`,
      'check the chart repository URL, name and version in sluice.yaml',
    );
};

/** The archive from a Helm HTTP repository: its index entry for name@version, then the .tgz. */
const fromHttpRepo = async (ref: ChartRef, options: ChartFetchOptions): Promise<Uint8Array> => {
  const base = new URL(ref.url.endsWith('/') ? ref.url : `${ref.url}/`);
  const allowed = (u: URL) =>
    (u.protocol === base.protocol && u.host === base.host) ||
    ((u.protocol === 'https:' || u.protocol === 'http:') && (options.allowedHosts ?? []).includes(u.host));
  const indexUrl = new URL('index.yaml', base);
  const { bytes, response } = await download(indexUrl, 'chart index', options, allowed, {}, MAX_INDEX_BYTES);
  ok(response, 'chart index', indexUrl);
  let index: unknown;
  try {
    index = parseYaml(new TextDecoder().decode(bytes), { maxAliasCount: 100 });
  } catch (error) {
    throw new ChartError(
      `chart index ${indexUrl.href} is not YAML: ${(error as Error).message}`,
      'check the chart repository URL',
    );
  }
  const entries = (index as { entries?: Record<string, unknown> } | null)?.entries?.[ref.name];
  const entry = (Array.isArray(entries) ? entries : []).find(
    (e): e is { version: string; urls?: unknown; digest?: unknown } =>
      typeof e === 'object' && e !== null && String((e as { version?: unknown }).version) === ref.version,
  );
  if (!entry)
    throw new ChartError(
      `chart ${ref.name} ${ref.version} is not in ${indexUrl.href}`,
      'name a chart and an exact version the repository lists (helm search repo NAME --versions)',
    );
  const first = Array.isArray(entry.urls) ? entry.urls[0] : undefined;
  if (typeof first !== 'string')
    throw new ChartError(`chart ${ref.name} ${ref.version} in ${indexUrl.href} has no URL`, 'fix the index');
  const chartUrl = new URL(first, base);
  if (!allowed(chartUrl))
    throw new ChartError(
      `chart ${ref.name} ${ref.version} points at ${chartUrl.origin}, which is not the chart repository's host ${base.origin}`,
      'serve the chart from the repository host, or the operator allows that host (SLUICE_CHART_HOSTS)',
    );
  const archive = await download(chartUrl, 'chart', options, allowed);
  ok(archive.response, 'chart', chartUrl);
  const advertised = typeof entry.digest === 'string' ? `sha256:${entry.digest.replace(/^sha256:/, '')}` : '';
  if (advertised && advertised !== sha256(archive.bytes))
    throw new ChartError(
      `chart ${ref.name} ${ref.version} from ${chartUrl.href} has digest ${sha256(archive.bytes)}, but the repository index says ${advertised}`,
      'the repository serves a different archive than it lists: do not deploy it; ask its owner',
    );
  return archive.bytes;
};

/** A bearer token for an anonymous pull, when the registry asks for one (ghcr.io, docker.io). */
const bearer = async (challenge: string, options: ChartFetchOptions): Promise<string | undefined> => {
  const params = Object.fromEntries(
    [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]),
  );
  if (!/^bearer /i.test(challenge) || !params.realm) return undefined;
  const realm = new URL(params.realm);
  if (realm.protocol !== 'https:') return undefined;
  if (params.service) realm.searchParams.set('service', params.service);
  if (params.scope) realm.searchParams.set('scope', params.scope);
  const { bytes, response } = await download(realm, 'registry token', options, () => false);
  if (!response.ok) return undefined;
  const body = JSON.parse(new TextDecoder().decode(bytes)) as { token?: string; access_token?: string };
  return body.token ?? body.access_token;
};

/** The archive from an OCI registry: the manifest of name:version, then its Helm chart layer. */
const fromRegistry = async (ref: ChartRef, options: ChartFetchOptions): Promise<Uint8Array> => {
  const oci = new URL(ref.url.replace(/^oci:/i, 'https:'));
  // A registry on the loopback interface is spoken to in plain HTTP, as docker and helm's
  // --plain-http do for a local registry; every other registry over https.
  const origin = `${isLoopback(oci.hostname) ? 'http' : 'https'}://${oci.host}`;
  const repository = `${oci.pathname.replace(/^\/+|\/+$/g, '')}/${ref.name}`.replace(/^\//, '');
  const tag = ref.version.replaceAll('+', '_'); // OCI tags have no "+"; helm writes "_"
  const manifestUrl = new URL(`/v2/${repository}/manifests/${tag}`, origin);
  const sameHost = (u: URL) => u.origin === origin;
  const headers: Record<string, string> = { Accept: OCI_MANIFEST };
  let manifest = await download(manifestUrl, 'chart manifest', options, sameHost, headers);
  const challenge = manifest.response.headers.get('www-authenticate');
  if (manifest.response.status === 401 && challenge) {
    const token = await bearer(challenge, options);
    if (token) {
      headers.Authorization = `Bearer ${token}`;
      manifest = await download(manifestUrl, 'chart manifest', options, sameHost, headers);
    }
  }
  ok(manifest.response, 'chart manifest', manifestUrl);
  let layers: { mediaType?: string; digest?: string }[] = [];
  try {
    layers =
      (JSON.parse(new TextDecoder().decode(manifest.bytes)) as { layers?: typeof layers }).layers ?? [];
  } catch {
    // handled below: no chart layer
  }
  const layer = layers.find((l) => l.mediaType === HELM_LAYER);
  if (!layer?.digest || !DIGEST.test(layer.digest))
    throw new ChartError(
      `${manifestUrl.href} is not a Helm chart (no ${HELM_LAYER} layer)`,
      'name a chart pushed with helm push',
    );
  const blobUrl = new URL(`/v2/${repository}/blobs/${layer.digest}`, origin);
  // Registries redirect blobs to their storage; the bytes are checked against the digest below.
  const blob = await download(
    blobUrl,
    'chart',
    options,
    (u) => sameHost(u) || u.protocol === 'https:',
    headers,
  );
  ok(blob.response, 'chart', blobUrl);
  if (sha256(blob.bytes) !== layer.digest)
    throw new ChartError(
      `chart ${ref.name} ${ref.version} from ${blobUrl.href} does not match its manifest's digest ${layer.digest}`,
      'the registry serves damaged or altered content: do not deploy it',
    );
  return blob.bytes;
};

const octal = (field: Buffer): number =>
  Number.parseInt(field.toString('latin1').replace(/[\0 ]+$/g, '') || '0', 8);
const text = (field: Buffer): string => {
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
};

/**
 * Refuses an archive helm should not unpack: unpacked size over the bound, an entry that is not
 * a regular file or directory, or a path that is absolute or climbs with `..`.
 */
export const checkChartArchive = (bytes: Uint8Array, maxUnpacked: number): void => {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: maxUnpacked });
  } catch (error) {
    const tooBig =
      (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ||
      /larger than|too large/i.test((error as Error).message);
    throw new ChartError(
      tooBig
        ? `the chart archive unpacks to more than ${maxUnpacked} bytes, the limit of one chart`
        : `the chart archive is not gzip: ${(error as Error).message}`,
      tooBig
        ? 'use a smaller chart, or the operator raises the limit'
        : 'name a packaged chart (helm package)',
    );
  }
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = octal(header.subarray(124, 136));
    const type = String.fromCharCode(header[156]!);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = text(body);
      continue;
    }
    if (type === 'x') {
      const pax = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      if (pax) longName = pax[1];
      continue;
    }
    if (type === 'g') continue;
    const prefix = text(header.subarray(345, 500));
    const name =
      longName ?? (prefix ? `${prefix}/${text(header.subarray(0, 100))}` : text(header.subarray(0, 100)));
    longName = undefined;
    if (type !== '0' && type !== '\0' && type !== '5' && type !== '7') {
      const what =
        type === '2'
          ? 'a symlink'
          : type === '1'
            ? 'a hard link'
            : `an entry of type ${JSON.stringify(type)}`;
      throw new ChartError(
        `the chart archive holds ${what} (${JSON.stringify(name)})`,
        'a chart may hold only regular files and directories: package it without links',
      );
    }
    if (name.startsWith('/') || name.split(/[\\/]/).includes('..'))
      throw new ChartError(
        `the chart archive holds the path ${JSON.stringify(name)}, which leaves the chart`,
        'package the chart with helm package',
      );
  }
};

const archiveFile = (cacheDir: string, digest: string): string =>
  path.join(cacheDir, `sha256-${digest.slice('sha256:'.length)}.tgz`);

/** The verified archive of `ref`: from the cache by its digest, else fetched, checked and cached. */
export const fetchChart = async (ref: ChartRef, options: ChartFetchOptions): Promise<ChartFetchResult> => {
  try {
    if (ref.digest !== undefined && !DIGEST.test(ref.digest))
      throw new ChartError(
        `helm.digest ${JSON.stringify(ref.digest)} is not sha256:<64 hex digits>`,
        'record the digest the first render reports',
      );
    if (ref.digest) {
      const file = archiveFile(options.cacheDir, ref.digest);
      const cached = await readFile(file).catch(() => undefined);
      if (cached && sha256(cached) === ref.digest)
        return { ok: true, file, digest: ref.digest, fetched: false };
      if (cached) await rm(file, { force: true }); // damaged on disk: fetch again
    }
    const bytes = /^oci:/i.test(ref.url)
      ? await fromRegistry(ref, options)
      : await fromHttpRepo(ref, options);
    const digest = sha256(bytes);
    const where = `chart ${ref.name} ${ref.version} from ${ref.url}`;
    if (!ref.digest)
      throw new ChartError(
        `${where} has no recorded digest; the repository serves digest ${digest}`,
        `add digest: ${digest} to the app's helm in sluice.yaml once you trust this chart`,
      );
    if (digest !== ref.digest)
      throw new ChartError(
        `${where} has digest ${digest}, not the recorded ${ref.digest}: the same version changed content`,
        'do not deploy it until you know why it changed; if the new chart is trusted, record the new digest',
      );
    checkChartArchive(bytes, options.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED);
    await mkdir(options.cacheDir, { recursive: true });
    const file = archiveFile(options.cacheDir, digest);
    const tmp = `${file}.${randomUUID()}.tmp`;
    await writeFile(tmp, bytes, { flag: 'wx', mode: 0o600 });
    await rename(tmp, file);
    return { ok: true, file, digest, fetched: true };
  } catch (error) {
    if (error instanceof ChartError) return { ok: false, message: error.message, fix: error.fix };
    throw error;
  }
};
