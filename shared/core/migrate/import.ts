/**
 * `sluice import`: Argo CD Applications or Flux Kustomizations and HelmReleases (with their
 * GitRepository / HelmRepository sources) → a sluice.yaml, and a list of every field that could
 * not be mapped, with why (docs/migrate.md). Pure: the CLI reads the files.
 */
import { posix } from 'node:path';
import type { KubeObject } from '../../ports/index.ts';

/** One manifest file of the repository being imported: its path and the objects it holds. */
export interface ImportFile {
  file: string;
  objects: KubeObject[];
  /** Local directories a kustomization.yaml in this file's directory lists under resources. */
  resources?: string[];
}

export interface Unmapped {
  /** `Kind/name` of the source object and its file. */
  source: string;
  field: string;
  why: string;
}

export interface ImportResult {
  /** The sluice.yaml document (apiVersion, kind, targets, apps). */
  config: {
    apiVersion: 'sluice.dev/v1';
    kind: 'Fleet';
    targets: Record<string, unknown>[];
    apps: Record<string, unknown>[];
  };
  unmapped: Unmapped[];
}

type Json = Record<string, unknown>;
const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const specOf = (o: KubeObject): Json =>
  isMap((o as unknown as Json).spec) ? ((o as unknown as Json).spec as Json) : {};

/** A DNS label from any name. */
const dns = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63) || 'app';

const repoPath = (p: string): string => posix.normalize(p.replace(/^\.\//, '')).replace(/\/$/, '') || '.';

const EXACT_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

/** Dotted keys for Sluice's environment values; lists cannot be carried and are returned apart. */
const flatten = (values: Json, prefix = '', out: Json = {}, lists: string[] = []) => {
  for (const [k, v] of Object.entries(values)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isMap(v)) flatten(v, key, out, lists);
    else if (Array.isArray(v) || v === null) lists.push(key);
    else out[key] = v;
  }
  return { values: out, lists };
};

const targetFor = (name: string) => ({
  name,
  cloud: 'onprem',
  region: 'local',
  labels: { cluster: name },
  cluster: { kind: 'in-cluster' },
});

const isUnder = (file: string, dir: string) => dir === '.' || file.startsWith(`${dir}/`);

/** Every file an app path reads: files under it and under the local dirs its kustomizations list. */
const filesOf = (files: readonly ImportFile[], dir: string, seen = new Set<string>()): ImportFile[] => {
  if (seen.has(dir)) return [];
  seen.add(dir);
  const direct = files.filter((f) => isUnder(f.file, dir));
  const more = direct.flatMap((f) =>
    (f.resources ?? []).flatMap((r) => filesOf(files, repoPath(posix.join(posix.dirname(f.file), r)), seen)),
  );
  return [...new Set([...direct, ...more])];
};

const ref = (o: KubeObject, file: string) => `${o.kind}/${o.metadata.name} (${file})`;

/** A repository chart renders only with its archive's digest, which no Argo CD or Flux object holds. */
const digestNote = (source: string): Unmapped => ({
  source,
  field: 'helm.digest',
  why: 'the chart archive digest is not in the source object: the first `sluice validate` reports it; add it as helm.digest (docs/rendering.md#repository-charts)',
});

// ---------------------------------------------------------------------------------------------
// Argo CD

const isApplication = (o: KubeObject) => o.kind === 'Application' && o.apiVersion.startsWith('argoproj.io/');

const CLUSTER_SECRET = 'argocd.argoproj.io/secret-type';

/** Base64 `data` or plain `stringData` of a Secret, by key. */
const secretValue = (o: KubeObject, key: string): string | undefined => {
  const raw = o as unknown as Json;
  const plain = isMap(raw.stringData) ? str(raw.stringData[key]) : undefined;
  if (plain !== undefined) return plain;
  const encoded = isMap(raw.data) ? str(raw.data[key]) : undefined;
  if (encoded === undefined) return undefined;
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
};

/** The parameters the cluster generator gives for each Argo CD cluster Secret in the files. */
const clusterParams = (objects: readonly KubeObject[]): Json[] =>
  objects
    .filter((o) => o.kind === 'Secret' && o.metadata.labels?.[CLUSTER_SECRET] === 'cluster')
    .flatMap((o) => {
      const name = secretValue(o, 'name');
      const server = secretValue(o, 'server');
      if (name === undefined || server === undefined) return [];
      const params: Json = { name, nameNormalized: dns(name), server };
      for (const [k, v] of Object.entries(o.metadata.labels ?? {})) params[`metadata.labels.${k}`] = v;
      for (const [k, v] of Object.entries(o.metadata.annotations ?? {}))
        params[`metadata.annotations.${k}`] = v;
      return [params];
    });

/** `{{param}}` and goTemplate's `{{.param}}` in every string of `value`; undefined names a missing one. */
const fillTemplate = (value: unknown, params: Json, missing: Set<string>): unknown => {
  if (typeof value === 'string') {
    return value.replace(/\{\{\s*(\.)?([\w./-]+)\s*\}\}/g, (whole, _dot, name: string) => {
      const v = params[name];
      if (v === undefined) {
        missing.add(name);
        return whole;
      }
      return String(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => fillTemplate(v, params, missing));
  if (isMap(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillTemplate(v, params, missing)]));
  return value;
};

/**
 * The Applications an ApplicationSet generates from its list and cluster generators (clusters
 * from the Argo CD cluster Secrets among the files, selected by matchLabels); every other
 * generator, template patch or template expression it cannot fill is listed as unmapped.
 */
const expandApplicationSet = (
  set: KubeObject,
  file: string,
  objects: readonly KubeObject[],
  unmapped: Unmapped[],
): KubeObject[] => {
  const spec = specOf(set);
  const source = ref(set, file);
  const template = isMap(spec.template) ? spec.template : undefined;
  if (!template) {
    unmapped.push({ source, field: 'spec.template', why: 'the ApplicationSet has no template' });
    return [];
  }
  if (spec.templatePatch !== undefined) {
    unmapped.push({
      source,
      field: 'spec.templatePatch',
      why: 'template patches are not applied: write the patched fields into the template',
    });
  }
  const paramSets: Json[] = [];
  (Array.isArray(spec.generators) ? spec.generators : []).forEach((g: unknown, i: number) => {
    const generator = isMap(g) ? g : {};
    if (isMap(generator.list)) {
      const elements = Array.isArray(generator.list.elements) ? generator.list.elements.filter(isMap) : [];
      if (generator.list.elementsYaml !== undefined)
        unmapped.push({
          source,
          field: `spec.generators[${i}].list.elementsYaml`,
          why: 'elements from a template expression: list them under elements',
        });
      for (const e of elements) paramSets.push(flatten(e).values);
    } else if (isMap(generator.clusters)) {
      const selector = isMap(generator.clusters.selector) ? generator.clusters.selector : {};
      if (selector.matchExpressions !== undefined)
        unmapped.push({
          source,
          field: `spec.generators[${i}].clusters.selector.matchExpressions`,
          why: 'only matchLabels selects clusters in the import',
        });
      const labels = isMap(selector.matchLabels) ? selector.matchLabels : {};
      const clusters = clusterParams(objects).filter((c) =>
        Object.entries(labels).every(([k, v]) => c[`metadata.labels.${k}`] === v),
      );
      if (clusters.length === 0)
        unmapped.push({
          source,
          field: `spec.generators[${i}].clusters`,
          why: 'no Argo CD cluster Secret among the files matches: pass the cluster Secrets (without credentials) to the import, or add the targets by hand',
        });
      const values = isMap(generator.clusters.values) ? generator.clusters.values : {};
      for (const c of clusters) {
        const filled = fillTemplate(values, c, new Set()) as Json;
        paramSets.push({
          ...c,
          ...Object.fromEntries(Object.entries(filled).map(([k, v]) => [`values.${k}`, v])),
        });
      }
    } else {
      const kind = Object.keys(generator)[0] ?? 'generator';
      unmapped.push({
        source,
        field: `spec.generators[${i}].${kind}`,
        why: `the ${kind} generator is not imported: only list and clusters are; write one app per generated Application`,
      });
    }
  });
  const generated: KubeObject[] = [];
  for (const params of paramSets) {
    const missing = new Set<string>();
    const filled = fillTemplate(template, params, missing) as Json;
    const metadata = isMap(filled.metadata) ? filled.metadata : {};
    if (missing.size > 0 || str(metadata.name) === undefined) {
      unmapped.push({
        source,
        field: 'spec.template',
        why: `a generated Application could not be filled (${[...missing].join(', ') || 'no metadata.name'}): only plain {{param}} references are imported`,
      });
      continue;
    }
    generated.push({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: String(metadata.name) },
      spec: filled.spec,
    } as unknown as KubeObject);
  }
  return generated;
};

export const importArgoCd = (files: readonly ImportFile[]): ImportResult => {
  const unmapped: Unmapped[] = [];
  const apps: Json[] = [];
  const targets = new Map<string, Json>();
  const listed = files.flatMap((f) => f.objects.map((object) => ({ object, file: f.file })));
  // ApplicationSets are replaced by the Applications their list and cluster generators make.
  const objects = listed.map((l) => l.object);
  const all = listed.flatMap((l) =>
    l.object.kind === 'ApplicationSet' && l.object.apiVersion.startsWith('argoproj.io/')
      ? expandApplicationSet(l.object, l.file, objects, unmapped).map((object) => ({ object, file: l.file }))
      : [l],
  );
  for (const { object, file } of all) {
    if (object.kind === 'AppProject') {
      unmapped.push({
        source: ref(object, file),
        field: object.kind,
        why: 'AppProjects are not imported: who may deploy where lives in the deployment config, not the repo',
      });
    }
    if (!isApplication(object)) continue;
    const spec = specOf(object);
    const sources = Array.isArray(spec.sources) ? spec.sources.filter(isMap) : [];
    const source = isMap(spec.source) ? spec.source : sources[0];
    const source_ = ref(object, file);
    if (!source) {
      unmapped.push({ source: source_, field: 'spec.source', why: 'the Application has no source' });
      continue;
    }
    if (sources.length > 1) {
      unmapped.push({
        source: source_,
        field: 'spec.sources[1..]',
        why: 'Sluice apps have one source; only the first was imported',
      });
    }
    const path = str(source.path);
    // App of apps: an Application whose path holds more Applications is replaced by its children.
    if (path !== undefined) {
      const children = all.filter((c) => isApplication(c.object) && isUnder(c.file, repoPath(path)));
      if (children.length > 0) {
        unmapped.push({
          source: source_,
          field: 'spec.source.path',
          why: `app of apps: its ${children.length} child Applications (${children.map((c) => c.object.metadata.name).join(', ')}) are imported as apps themselves; the parent is not needed`,
        });
        continue;
      }
    }
    const destination = isMap(spec.destination) ? spec.destination : {};
    const server = str(destination.server);
    const targetName = dns(
      str(destination.name) ??
        (server === undefined || server === 'https://kubernetes.default.svc'
          ? 'in-cluster'
          : server.replace(/^\w+:\/\//, '').split(/[/:]/)[0]!),
    );
    targets.set(targetName, targetFor(targetName));
    const app: Json = { name: dns(object.metadata.name) };
    const chart = str(source.chart);
    if (chart !== undefined) {
      const version = str(source.targetRevision) ?? '';
      const url = str(source.repoURL) ?? '';
      if (!EXACT_VERSION.test(version)) {
        unmapped.push({
          source: source_,
          field: 'spec.source.targetRevision',
          why: `chart version ${JSON.stringify(version)} is not exact; Sluice needs an exact version: the app was not imported, add it with the version you run`,
        });
        continue;
      }
      app.path = posix.dirname(file);
      app.helm = { repo: /^[a-z]+:\/\//.test(url) ? url : `oci://${url}`, name: chart, version };
      unmapped.push(digestNote(source_));
    } else {
      app.path = repoPath(path ?? '.');
      if (str(source.targetRevision) && !['HEAD', 'main', 'master'].includes(String(source.targetRevision))) {
        unmapped.push({
          source: source_,
          field: 'spec.source.targetRevision',
          why: `Sluice deploys the branch the repo's webhook is registered for, not ${JSON.stringify(source.targetRevision)}`,
        });
      }
    }
    const helm = isMap(source.helm) ? source.helm : undefined;
    const env: Json = {};
    if (helm) {
      if (str(helm.releaseName))
        app.helm = { ...(isMap(app.helm) ? app.helm : {}), releaseName: dns(String(helm.releaseName)) };
      if (Array.isArray(helm.valueFiles) && helm.valueFiles.length > 0) env.valueFiles = helm.valueFiles;
      const values: Json = isMap(helm.valuesObject) ? { ...helm.valuesObject } : {};
      for (const p of Array.isArray(helm.parameters) ? helm.parameters.filter(isMap) : []) {
        if (str(p.name)) values[String(p.name)] = p.value;
      }
      if (str(helm.values)) {
        unmapped.push({
          source: source_,
          field: 'spec.source.helm.values',
          why: 'inline values text: move it into a values file and list it under environments.<env>.valueFiles',
        });
      }
      const flat = flatten(values);
      if (Object.keys(flat.values).length > 0) env.values = flat.values;
      for (const key of flat.lists) {
        unmapped.push({
          source: source_,
          field: `helm values ${key}`,
          why: 'a list or null value: put it in a values file',
        });
      }
    }
    if (isMap(source.directory)) {
      // Argo CD reads subdirectories only with recurse: true; so does the imported app.
      app.directory = { recurse: source.directory.recurse === true };
      for (const option of Object.keys(source.directory)
        .filter((k) => k !== 'recurse')
        .sort()) {
        unmapped.push({
          source: source_,
          field: `spec.source.directory.${option}`,
          why: 'not a Sluice option: move or delete the files it would leave out, or render them into the repo',
        });
      }
    }
    for (const field of ['kustomize', 'plugin'] as const) {
      if (isMap(source[field])) {
        unmapped.push({
          source: source_,
          field: `spec.source.${field}`,
          why: `${field} options: put them in the app's own kustomization.yaml or render the output into the repo`,
        });
      }
    }
    if (str(destination.namespace)) app.namespace = dns(String(destination.namespace));
    app.targets = { matchLabels: { cluster: targetName } };
    const sync = isMap(spec.syncPolicy) ? spec.syncPolicy : {};
    const automated = isMap(sync.automated) ? sync.automated : undefined;
    app.sync = { prune: automated?.prune === true, selfHeal: automated?.selfHeal === true };
    if (!automated) {
      unmapped.push({
        source: source_,
        field: 'spec.syncPolicy',
        why: 'manual sync: Sluice deploys every push; prune and selfHeal are off as in the Application',
      });
    }
    if (Array.isArray(sync.syncOptions) && sync.syncOptions.length > 0) {
      unmapped.push({
        source: source_,
        field: 'spec.syncPolicy.syncOptions',
        why: `${sync.syncOptions.join(', ')}: not Sluice options (Sluice always applies server-side; create Namespaces as objects)`,
      });
    }
    if (Object.keys(env).length > 0) {
      app.environmentLabel = 'cluster';
      app.environments = { [targetName]: env };
    }
    apps.push(app);
  }
  return result(targets, apps, unmapped);
};

// ---------------------------------------------------------------------------------------------
// Flux

const FLUX_SOURCE = 'source.toolkit.fluxcd.io/';

export const importFlux = (files: readonly ImportFile[]): ImportResult => {
  const unmapped: Unmapped[] = [];
  const apps: Json[] = [];
  const all = files.flatMap((f) => f.objects.map((object) => ({ object, file: f.file })));
  const sources = new Map(
    all
      .filter(({ object }) => object.apiVersion.startsWith(FLUX_SOURCE))
      .map(({ object }) => [`${object.kind}/${object.metadata.name}`, object]),
  );
  // Clusters: the directories under clusters/ (the layout of Flux's examples), else one.
  const clusters = [
    ...new Set(files.map((f) => /^clusters\/([^/]+)\//.exec(f.file)?.[1]).filter((c): c is string => !!c)),
  ]
    .map(dns)
    .sort();
  const targets = new Map((clusters.length > 0 ? clusters : ['in-cluster']).map((c) => [c, targetFor(c)]));
  const isFlux = (o: KubeObject) => o.apiVersion.includes('.toolkit.fluxcd.io/');

  for (const { object, file } of all) {
    const source = ref(object, file);
    const spec = specOf(object);
    if (object.kind === 'Kustomization' && object.apiVersion.startsWith('kustomize.toolkit.fluxcd.io/')) {
      const path = repoPath(str(spec.path) ?? '.');
      if (
        path.startsWith('flux-system') ||
        /(^|\/)flux-system$/.test(path) ||
        object.metadata.name === 'flux-system'
      ) {
        unmapped.push({
          source,
          field: 'metadata.name',
          why: "Flux's own bootstrap: not needed with Sluice",
        });
        continue;
      }
      const inside = filesOf(files, path).flatMap((f) => f.objects.map((o) => ({ o, file: f.file })));
      const fluxInside = inside.filter(({ o }) => isFlux(o));
      if (fluxInside.length > 0) {
        const others = inside.filter(({ o }) => !isFlux(o));
        unmapped.push({
          source,
          field: 'spec.path',
          why: `${path} holds Flux objects (${fluxInside.map(({ o }) => `${o.kind}/${o.metadata.name}`).join(', ')}), imported on their own${others.length > 0 ? `; its other objects (${others.map(({ o }) => `${o.kind}/${o.metadata.name}`).join(', ')}) are not deployed: move them into a directory of their own and add it as an app` : ''}`,
        });
        continue;
      }
      const app: Json = { name: dns(object.metadata.name), path };
      if (str(spec.targetNamespace)) app.namespace = dns(String(spec.targetNamespace));
      const postBuild = isMap(spec.postBuild) ? spec.postBuild : {};
      if (isMap(postBuild.substitute)) {
        app.substitute = Object.fromEntries(
          Object.entries(postBuild.substitute).map(([k, v]) => [k, String(v)]),
        );
      }
      if (postBuild.substituteFrom !== undefined) {
        unmapped.push({
          source,
          field: 'spec.postBuild.substituteFrom',
          why: 'variables from ConfigMaps/Secrets in the cluster: copy the non-secret ones into substitute:',
        });
      }
      app.targets = {};
      app.sync = { prune: spec.prune === true, selfHeal: true };
      for (const field of ['dependsOn', 'patches', 'images', 'components', 'decryption', 'healthChecks']) {
        if (spec[field] !== undefined) {
          unmapped.push({
            source,
            field: `spec.${field}`,
            why:
              field === 'decryption'
                ? 'SOPS decryption is not supported yet'
                : field === 'dependsOn'
                  ? 'Sluice has no ordering between apps yet'
                  : 'put it in the path’s own kustomization.yaml',
          });
        }
      }
      apps.push(app);
    } else if (object.kind === 'HelmRelease' && object.apiVersion.startsWith('helm.toolkit.fluxcd.io/')) {
      const chartSpec = isMap(spec.chart) && isMap(spec.chart.spec) ? spec.chart.spec : undefined;
      if (!chartSpec) {
        unmapped.push({
          source,
          field: spec.chartRef === undefined ? 'spec' : 'spec.chartRef',
          why:
            spec.chartRef === undefined
              ? 'a HelmRelease without a chart: a patch of another HelmRelease (per-environment values); add its values under that app’s environments.<env>.values'
              : 'chartRef (OCIRepository/HelmChart) is not imported: give the chart as helm.repo + name + version',
        });
        continue;
      }
      const sourceRef = isMap(chartSpec.sourceRef) ? chartSpec.sourceRef : {};
      const repoObject = sources.get(`${String(sourceRef.kind)}/${String(sourceRef.name)}`);
      const chart = str(chartSpec.chart) ?? '';
      const app: Json = { name: dns(object.metadata.name) };
      if (sourceRef.kind === 'GitRepository') {
        app.path = repoPath(chart);
        app.kind = 'helm';
        app.helm = {};
      } else {
        const url = repoObject ? str(specOf(repoObject).url) : undefined;
        const version = str(chartSpec.version) ?? '';
        if (!url) {
          unmapped.push({
            source,
            field: 'spec.chart.spec.sourceRef',
            why: `${String(sourceRef.kind)}/${String(sourceRef.name)} is not in the imported files`,
          });
          continue;
        }
        if (!EXACT_VERSION.test(version)) {
          unmapped.push({
            source,
            field: 'spec.chart.spec.version',
            why: `${JSON.stringify(version)} is a range; Sluice needs an exact chart version: the app was not imported, add it with the version you run`,
          });
          continue;
        }
        app.path = posix.dirname(file);
        app.helm = { repo: url, name: chart, version };
        unmapped.push(digestNote(source));
      }
      const namespace = str(spec.targetNamespace) ?? object.metadata.namespace;
      if (namespace) app.namespace = dns(namespace);
      const releaseName =
        str(spec.releaseName) ??
        (str(spec.targetNamespace)
          ? `${spec.targetNamespace}-${object.metadata.name}`
          : object.metadata.name);
      (app.helm as Json).releaseName = dns(releaseName);
      app.targets = {};
      app.sync = { prune: true, selfHeal: true };
      const flat = flatten(isMap(spec.values) ? spec.values : {});
      if (Object.keys(flat.values).length > 0) {
        app.environmentLabel = 'cluster';
        app.environments = Object.fromEntries([...targets.keys()].map((t) => [t, { values: flat.values }]));
      }
      for (const key of flat.lists) {
        unmapped.push({
          source,
          field: `spec.values.${key}`,
          why: 'a list or null value: put it in a values file',
        });
      }
      for (const field of ['valuesFrom', 'dependsOn', 'postRenderers']) {
        if (spec[field] !== undefined) {
          unmapped.push({
            source,
            field: `spec.${field}`,
            why:
              field === 'valuesFrom'
                ? 'values from cluster ConfigMaps/Secrets: reference secrets as aws-sm:// or vault:// values instead'
                : field === 'dependsOn'
                  ? 'Sluice has no ordering between apps yet'
                  : 'post-renderers: wrap the chart in a kustomization instead',
          });
        }
      }
      apps.push(app);
    }
  }
  return result(targets, apps, unmapped);
};

const result = (targets: Map<string, Json>, apps: Json[], unmapped: Unmapped[]): ImportResult => ({
  config: {
    apiVersion: 'sluice.dev/v1',
    kind: 'Fleet',
    targets: [...targets.values()],
    apps: apps.sort((a, b) => String(a.name).localeCompare(String(b.name))),
  },
  unmapped,
});
