/**
 * Vendors the Kubernetes OpenAPI v3 schemas that `schema` validation checks objects against,
 * from the Go module proxy (never at run time): `go mod download k8s.io/kubernetes@VERSION`
 * gives a zip holding api/openapi-spec/v3/*.json; this keeps what validation needs (types,
 * properties, required, enums, formats, x-kubernetes-* markers, kind → resource and scope) and
 * drops descriptions and defaults, then writes shared/k8s-schemas/<minor>.json.gz.
 *
 *   node scripts/schemas/build.ts                 # v1.34.4 → shared/k8s-schemas/1.34.json.gz
 *   node scripts/schemas/build.ts v1.33.8         # another minor (add it to KUBERNETES_VERSIONS)
 *
 * The zip is taken from the kube build cache (.cache/kube/gomod) when scripts/kube/build.sh
 * already downloaded it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import yauzl from 'yauzl';

type Json = Record<string, unknown>;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const version = process.argv[2] ?? 'v1.34.4';
const minor = /^v1\.(\d+)\.\d+$/.exec(version)?.[1];
if (!minor) throw new Error(`build.ts: "${version}" is not an exact version such as v1.34.4`);

const zipPath = (): string => {
  const gomod = join(ROOT, '.cache', 'kube', 'gomod');
  const cached = join(gomod, 'cache', 'download', 'k8s.io', 'kubernetes', '@v', `${version}.zip`);
  if (existsSync(cached)) return cached;
  mkdirSync(gomod, { recursive: true });
  const out = execFileSync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${version}`], {
    cwd: ROOT,
    env: { ...process.env, GOMODCACHE: gomod, GOFLAGS: '-mod=mod' },
    encoding: 'utf8',
  });
  return (JSON.parse(out) as { Zip: string }).Zip;
};

const readSpecs = (zip: string): Promise<Json[]> =>
  new Promise((ok, fail) => {
    const docs: Json[] = [];
    yauzl.open(zip, { lazyEntries: true }, (error, file) => {
      if (error || !file) return fail(error);
      file.on('entry', (entry: yauzl.Entry) => {
        if (!/\/api\/openapi-spec\/v3\/apis?__.*_openapi\.json$/.test(entry.fileName))
          return file.readEntry();
        file.openReadStream(entry, (e, stream) => {
          if (e || !stream) return fail(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            docs.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json);
            file.readEntry();
          });
        });
      });
      file.on('end', () => ok(docs));
      file.readEntry();
    });
  });

const KEEP = new Set([
  'type',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'allOf',
  'oneOf',
  'anyOf',
  'enum',
  'format',
  'nullable',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
]);

const REF = '#/components/schemas/';

/** Drops what validation does not read; `allOf: [{$ref}]` (a ref with a default) becomes the ref. */
const compact = (schema: unknown): unknown => {
  if (Array.isArray(schema)) return schema.map(compact);
  if (typeof schema !== 'object' || schema === null) return schema;
  const s = schema as Json;
  if (typeof s.$ref === 'string') return { $ref: s.$ref.slice(REF.length) };
  const all = s.allOf;
  if (Array.isArray(all) && all.length === 1 && typeof (all[0] as Json).$ref === 'string') {
    return compact(all[0]);
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(s)) {
    if (!KEEP.has(key)) continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, compact(v)]));
    } else out[key] = key === 'enum' || key === 'required' ? value : compact(value);
  }
  return out;
};

interface KindEntry {
  schema: string;
  resource: string;
  namespaced: boolean;
}

const build = async () => {
  const docs = await readSpecs(zipPath());
  const definitions: Json = {};
  const kinds: Record<string, KindEntry> = {};
  const schemaOfGvk = new Map<string, string>();
  for (const doc of docs) {
    const schemas = ((doc.components as Json | undefined)?.schemas ?? {}) as Record<string, Json>;
    for (const [name, schema] of Object.entries(schemas)) {
      definitions[name] = compact(schema);
      for (const gvk of (schema['x-kubernetes-group-version-kind'] as Json[] | undefined) ?? []) {
        const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : String(gvk.version);
        schemaOfGvk.set(`${apiVersion}/${gvk.kind}`, name);
      }
    }
    for (const [path, item] of Object.entries((doc.paths ?? {}) as Record<string, Json>)) {
      // A collection: /api/v1/RES, /apis/G/V/RES or …/namespaces/{namespace}/RES (no subresources).
      const m = /^\/(?:api|apis\/[^/]+)\/[^/]+\/(?:(namespaces\/\{namespace\})\/)?([a-z0-9-]+)$/.exec(path);
      const post = item.post as Json | undefined;
      const gvk = post?.['x-kubernetes-group-version-kind'] as Json | undefined;
      if (!m || !gvk) continue;
      const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : String(gvk.version);
      const key = `${apiVersion}/${gvk.kind}`;
      const schema = schemaOfGvk.get(key);
      if (!schema) continue;
      kinds[key] = { schema, resource: m[2]!, namespaced: m[1] !== undefined };
    }
  }
  const sorted = Object.fromEntries(Object.entries(kinds).sort(([a], [b]) => (a < b ? -1 : 1)));
  const out = {
    version: `1.${minor}`,
    source: `k8s.io/kubernetes@${version} api/openapi-spec/v3 (Go module proxy)`,
    kinds: sorted,
    definitions: Object.fromEntries(Object.entries(definitions).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  const file = join(ROOT, 'shared', 'k8s-schemas', `1.${minor}.json.gz`);
  mkdirSync(dirname(file), { recursive: true });
  const bytes = gzipSync(JSON.stringify(out), { level: 9 });
  writeFileSync(file, bytes);
  console.log(
    `${file}: ${Object.keys(sorted).length} kinds, ${Object.keys(definitions).length} definitions, ${bytes.length} bytes`,
  );
};

await build();
