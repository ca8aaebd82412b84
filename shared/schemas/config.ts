import { z } from 'zod';
import { branchName } from './repos.ts';

/** The file name Sluice looks for at the root of a config repository. */
export const CONFIG_FILE = 'sluice.yaml';

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS label: lower-case letters, digits and "-"');

const labelMap = z.record(z.string().min(1), z.string());

/**
 * Why a repo-relative path from sluice.yaml (or a render spec) is unsafe to hand to a tool or a
 * filesystem call, or undefined when it is fine. Paths reach kubectl and helm, so one that reads
 * as a flag (`-…`), leaves the repository (`/…`, `..`), or carries control characters or a
 * backslash (another path separator on some hosts) is refused, never repaired.
 */
export const unsafeRepoPath = (p: string): string | undefined => {
  if (p.startsWith('-')) return 'must not start with "-" (a tool would read it as a flag)';
  if (p.startsWith('/') || p.startsWith('~')) return 'must be relative to the repository root, not absolute';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f\\]/.test(p)) return 'must not contain control characters or "\\"';
  if (p.split('/').includes('..')) return 'must be a path relative to the repository root, without ".."';
  return undefined;
};

/** A path inside the config repository: relative, normalised, no `..`, no leading `/` or `-`. */
export const repoPath = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((p, ctx) => {
    const problem = unsafeRepoPath(p);
    if (problem) {
      ctx.addIssue({
        code: 'custom',
        message: `${problem} (got ${JSON.stringify(p)})`,
        params: { fix: 'write a relative path inside the config repository, such as apps/web' },
      });
    }
  })
  .transform(
    (p) =>
      p
        .split('/')
        .filter((s) => s !== '' && s !== '.')
        .join('/') || '.',
  );

/** A chart's name in a chart repository: what `helm template` takes as the chart argument. */
const chartName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/,
    'must be a chart name: letters, digits, ".", "_" and "-", not starting with "-" or "."',
  );

export const secretRef = z
  .string()
  .regex(/^(aws-sm|vault):\/\/[^#\s]+(#[^\s]+)?$/, 'must be aws-sm://NAME#KEY or vault://PATH#KEY');

export const clusterSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('eks'), name: z.string().min(1) }).strict(),
  /**
   * A cluster reached through a kubeconfig. `credentials`: the kubeconfig itself, from a secret
   * store (the Lambda agent). `context`: a context of the OPERATOR's kubeconfig (`sluice dev`:
   * --kubeconfig, else KUBECONFIG, else ~/.kube/config), used only when the operator allows it
   * (--kube-context); the repo names a context, never a file. Neither: the current context.
   */
  z
    .object({
      kind: z.literal('kubeconfig'),
      credentials: secretRef.optional(),
      context: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,252}$/, 'must be a kubeconfig context name')
        .optional(),
    })
    .strict(),
  z.object({ kind: z.literal('in-cluster') }).strict(),
  z.object({ kind: z.literal('directory'), path: z.string().min(1).optional() }).strict(),
]);

/** Kubernetes minor versions whose OpenAPI schemas are vendored in shared/k8s-schemas. */
export const KUBERNETES_VERSIONS = ['1.33', '1.34'] as const;
export const DEFAULT_KUBERNETES_VERSION = '1.34';

export const targetSchema = z
  .object({
    name: dnsLabel,
    cloud: z.enum(['aws', 'gcp', 'azure', 'onprem', 'other']),
    region: z.string().min(1),
    account: z
      .string()
      .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
      .optional(),
    labels: labelMap.default({}),
    /** How the agent reaches the cluster's API. */
    cluster: clusterSchema.default({ kind: 'in-cluster' }),
    /** Where the agent runs: a Lambda in the target's account/region, or `sluice agent` in the cluster. */
    agent: z.enum(['lambda', 'in-cluster']).optional(),
    /** The cluster's Kubernetes minor version: objects are schema-checked against it (default 1.34). */
    kubernetesVersion: z.enum(KUBERNETES_VERSIONS).optional(),
  })
  .strict()
  .transform((t) => ({ ...t, agent: t.agent ?? (t.cloud === 'aws' ? 'lambda' : 'in-cluster') }));

export const selectorSchema = z
  .object({
    matchLabels: labelMap.default({}),
    matchExpressions: z
      .array(
        z
          .object({
            key: z.string().min(1),
            operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
            values: z.array(z.string()).default([]),
          })
          .strict(),
      )
      .default([]),
    names: z.array(dnsLabel).default([]),
  })
  .strict();

export const environmentSchema = z
  .object({
    /** Directory, relative to the app's path, whose YAML is merged over the base. */
    overlay: repoPath.optional(),
    /** Values substituted into `${values.KEY}` placeholders of the manifests. */
    values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    /** Helm apps: values files, relative to the app's path, layered after the chart's own values.yaml. */
    valueFiles: z.array(repoPath).default([]),
  })
  .strict();

/** How an app's manifests are produced; detected from the app directory when left out. */
export const APP_KINDS = ['directory', 'kustomize', 'helm'] as const;

/** An exact chart version: repository charts are pinned, never a range. */
const pinnedVersion = z
  .string()
  .regex(
    /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/,
    'must be an exact chart version such as 1.2.3 (no ranges)',
  );

export const helmSchema = z
  .object({
    /** Chart directory relative to the app's path (default: the app's path itself). */
    chart: repoPath.optional(),
    /** Chart repository URL (https:// or oci://): rendering it needs network access. */
    repo: z
      .string()
      .regex(/^(https?|oci):\/\/\S+$/, 'must be an https://, http:// or oci:// chart repository URL')
      .optional(),
    /** Chart name in `repo`. */
    name: chartName.optional(),
    /** Exact chart version from `repo`. */
    version: pinnedVersion.optional(),
    /**
     * sha256 of the chart archive from `repo` (index.yaml's digest, the OCI chart layer's digest):
     * a render refuses any other content for this version. The first render without it reports it.
     */
    digest: z
      .string()
      .regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 lower-case hex digits>')
      .optional(),
    /** Helm release name (default: the app's name). */
    releaseName: dnsLabel.optional(),
    /** Render the chart's crds/ directory too (default true, as Argo CD does). */
    includeCrds: z.boolean().default(true),
  })
  .strict()
  .refine((h) => h.repo === undefined || (h.name !== undefined && h.version !== undefined), {
    message: 'a chart from a repository needs name and an exact version',
  })
  .refine((h) => h.digest === undefined || h.repo !== undefined, {
    message: 'digest pins a chart from a repository: set repo, name and version with it',
  })
  .refine((h) => h.repo === undefined || h.chart === undefined, {
    message: 'set either chart (a directory in this repo) or repo + name + version, not both',
  });

export const alarmSchema = z
  .object({
    name: z.string().min(1).optional(),
    arn: z.string().startsWith('arn:').optional(),
    tag: z
      .object({ key: z.string().min(1), value: z.string() })
      .strict()
      .optional(),
    /** Only this target rolls back; all of the app's targets otherwise. */
    target: dnsLabel.optional(),
  })
  .strict()
  .refine((a) => a.name !== undefined || a.arn !== undefined || a.tag !== undefined, {
    message: 'an alarm needs one of name, arn or tag',
  });

export const BUILTIN_POLICIES = [
  'no-latest-tag',
  'resources-required',
  'no-privileged',
  'no-plain-secrets',
] as const;
export type BuiltinPolicy = (typeof BUILTIN_POLICIES)[number];

/** Policy layers switched off by name like a built-in: `schema` (OpenAPI validation). */
export const POLICY_LAYERS = ['schema'] as const;
const SWITCHABLE_POLICIES = [...BUILTIN_POLICIES, ...POLICY_LAYERS] as const;

const policyToggles = z
  .object({ disable: z.array(z.enum(SWITCHABLE_POLICIES)).default([]) })
  .strict()
  .default({ disable: [] });

const fleetPolicies = z
  .object({
    disable: z.array(z.enum(SWITCHABLE_POLICIES)).default([]),
    /** Files or directories holding ValidatingAdmissionPolicies, bindings and params (docs/policies.md). */
    admission: z.array(repoPath).default([]),
    /**
     * `strict: true`: a custom kind no CRD in the repo (or a CRD catalog file kept in it)
     * defines fails the `schema` policy; by default it is a warning, "not checked".
     */
    crds: z
      .object({ strict: z.boolean().default(false) })
      .strict()
      .optional(),
  })
  .strict()
  .default({ disable: [], admission: [] });

/** One wave of a progressive rollout (docs/progressive-delivery.md). */
export const waveSchema = z
  .object({
    name: dnsLabel,
    /** The same selector as apps[].targets; none: every target of the app not placed yet. */
    targets: selectorSchema.optional(),
    /** How long every target of the wave stays Healthy, with no alarm of the app, before the next wave. */
    bakeSeconds: z.number().int().min(0).max(604_800).default(0),
    /** Targets of the wave applied at once (default: all). */
    maxParallel: z.number().int().min(1).max(1000).optional(),
    /** The wave waits for `sluice approve --app A --wave NAME` before it starts. */
    approval: z.boolean().default(false),
  })
  .strict();

export const rolloutSchema = z
  .object({ waves: z.array(waveSchema).min(1).max(20) })
  .strict()
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.waves.forEach((w, i) => {
      if (seen.has(w.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['waves', i, 'name'],
          message: `wave name "${w.name}" is used twice; give every wave its own name`,
        });
      }
      seen.add(w.name);
    });
  });

export const appSchema = z
  .object({
    name: dnsLabel,
    path: repoPath,
    /** directory | kustomize | helm; detected when left out (kustomization.yaml, Chart.yaml, else YAML files). */
    kind: z.enum(APP_KINDS).optional(),
    helm: helmSchema.optional(),
    /** Pass the target's name, region, cloud, cluster and labels to the manifests (one render per target). */
    targetValues: z.boolean().default(false),
    /** Flux-style post-build substitution of `${VAR}` / `${VAR:=default}` in the rendered manifests (docs/rendering.md). */
    substitute: z.record(z.string().regex(/^[_a-zA-Z][_a-zA-Z0-9]*$/), z.string()).optional(),
    /**
     * Directory apps: `recurse: false` reads only the manifests directly in the app path (Argo
     * CD's default); Sluice's default reads subdirectories too.
     */
    directory: z
      .object({ recurse: z.boolean().default(true) })
      .strict()
      .optional(),
    /** Directory under `path` holding the shared manifests when the app has overlays. */
    base: repoPath.optional(),
    /** Target label whose value picks the environment; `env` unless set. */
    environmentLabel: z.string().min(1).default('env'),
    environments: z.record(z.string().min(1), environmentSchema).default({}),
    targets: selectorSchema,
    namespace: dnsLabel.optional(),
    alarms: z.array(alarmSchema).default([]),
    bakeMinutes: z.number().int().min(0).max(10_080).default(30),
    rollback: z
      .object({
        onAlarm: z.boolean().default(true),
        onFailed: z.boolean().default(false),
        review: z.boolean().default(false),
      })
      .strict()
      .default({ onAlarm: true, onFailed: false, review: false }),
    /** Unset fields come from the fleet's `sync` (default prune: true, selfHeal: false). */
    sync: z.object({ prune: z.boolean().optional(), selfHeal: z.boolean().optional() }).strict().optional(),
    policies: policyToggles,
    /** Progressive delivery: waves with bake times and approvals; none = every target at once. */
    rollout: rolloutSchema.optional(),
    /**
     * Apps this one waits for on each target: its apply there is held until each of them is
     * Healthy there (docs/progressive-delivery.md#ordering-between-apps-dependson).
     */
    dependsOn: z.array(dnsLabel).max(20).optional(),
  })
  .strict();

/** The fleet-wide sync default every app's `sync` is layered over. */
const fleetSync = z
  .object({ prune: z.boolean().default(true), selfHeal: z.boolean().default(false) })
  .strict()
  .default({ prune: true, selfHeal: false });

export const fleetConfigSchema = z
  .object({
    apiVersion: z.literal('sluice.dev/v1'),
    kind: z.literal('Fleet'),
    /**
     * The branches that deploy this fleet, narrowing the deployment config's list for the repo
     * (default: all of those, else main). A branch named here but not there never deploys.
     */
    branches: z.array(branchName).min(1).max(50).optional(),
    targets: z.array(targetSchema).min(1),
    apps: z.array(appSchema).default([]),
    /**
     * Sync options for every app that does not set its own (field by field). `prune` also decides
     * whether an app's objects leave a target with it (docs/agent.md#removing-an-app).
     */
    sync: fleetSync,
    policies: fleetPolicies,
  })
  .strict()
  .transform(({ sync, ...fleet }) => ({
    ...fleet,
    apps: fleet.apps.map((app) => ({ ...app, sync: { ...sync, ...definedOnly(app.sync) } })),
  }));

const definedOnly = <T extends object>(value: T | undefined): Partial<T> =>
  Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;

export type FleetConfig = z.infer<typeof fleetConfigSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
/** An app with its `sync` resolved against the fleet's default. */
export type AppConfig = FleetConfig['apps'][number];
export type Selector = z.infer<typeof selectorSchema>;
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
export type WaveConfig = z.infer<typeof waveSchema>;
export type AppKind = (typeof APP_KINDS)[number];
export type HelmConfig = z.infer<typeof helmSchema>;
