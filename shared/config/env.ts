/**
 * The one module that reads `process.env`. Everything else receives plain, validated settings,
 * so a missing or malformed variable fails at start-up with a message naming it and the fix.
 */
import { z } from 'zod';
import { checkTrustPolicy } from '../core/provenance.ts';
import {
  DEFAULT_RENDER_LIMITS,
  DEFAULT_TOOL_LIMITS,
  MIN_TOOL_MEMORY_BYTES,
  type RenderLimits,
  type ToolLimits,
} from '../core/render-limits.ts';
import { cloneUrlOf, type RepoCatalog, repoCatalog } from '../core/repos.ts';
import { ConfigError } from '../errors.ts';
import type { SecretStore } from '../ports/index.ts';
import { deployReposSchema } from '../schemas/repos.ts';
import { type TrustPolicy, trustPolicySchema } from '../schemas/trust.ts';

export interface AwsSettings {
  readonly region: string;
  /** Set for an emulator (LocalStack) or a VPC endpoint; unset means the public AWS endpoints. */
  readonly endpoint?: string;
}

const awsEnvSchema = z.object({
  AWS_REGION: z.string().min(1).optional(),
  AWS_DEFAULT_REGION: z.string().min(1).optional(),
  AWS_ENDPOINT_URL: z.url().optional(),
});

type Env = Readonly<Record<string, string | undefined>>;

/** Region and optional endpoint for every AWS client, from AWS_REGION/AWS_DEFAULT_REGION and AWS_ENDPOINT_URL. */
export const readAwsSettings = (env: Env = process.env): AwsSettings => {
  const parsed = awsEnvSchema.safeParse(blankToUndefined(env));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'AWS_*');
    throw new ConfigError(
      'environment',
      name,
      `${issue?.message ?? 'invalid value'} (got ${JSON.stringify(env[name])})`,
      `set ${name} to a valid value, e.g. AWS_ENDPOINT_URL=http://127.0.0.1:4566`,
    );
  }
  const region = parsed.data.AWS_REGION ?? parsed.data.AWS_DEFAULT_REGION;
  if (region === undefined) {
    throw new ConfigError('environment', 'AWS_REGION', 'no AWS region is set', 'export AWS_REGION=us-east-1');
  }
  const endpoint = parsed.data.AWS_ENDPOINT_URL;
  return endpoint === undefined ? { region } : { region, endpoint };
};

/** Reads one required setting (a bus name, a bucket, a queue URL), failing loudly when it is absent. */
export const requireEnv = (name: string, env: Env = process.env): string => {
  const value = env[name]?.trim();
  if (!value) {
    throw new ConfigError('environment', name, 'is not set', `export ${name}=<value> before starting`);
  }
  return value;
};

/** An optional setting (SLUICE_SIGNING_KEY for `sluice agent`): its value, or undefined when unset or blank. */
export const optionalEnv = (name: string, env: Env = process.env): string | undefined =>
  env[name]?.trim() || undefined;

const blankToUndefined = (env: Env): Record<string, string | undefined> =>
  Object.fromEntries(
    ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL'].map((name) => [
      name,
      env[name]?.trim() || undefined,
    ]),
  );

/**
 * Names of the settings the CDK stacks give each Lambda (infra/constructs/sluice-function.ts sets
 * them together with the IAM grant) and the entry points (functions/<name>/index.ts) read.
 */
export const SLUICE_ENV = {
  /** Name or ARN of the `sluice` bus the function publishes to. */
  busName: 'SLUICE_BUS_NAME',
  /** The bundle bucket; it also holds the ledger (`ledger/`) and delivery claims (`idempotency/`). */
  bucket: 'SLUICE_BUCKET',
  /** The bucket's region, when a regional agent reads bundles from the management region. */
  bucketRegion: 'SLUICE_BUCKET_REGION',
  /** Secret ARN holding webhook secrets by provider: `{"github": "…", "github-previous": "…"}`. */
  webhookSecret: 'SLUICE_WEBHOOK_SECRET',
  /** Secret ARN holding Git credentials: `{"username": "…", "password": "…"}`; empty username = anonymous. */
  gitSecret: 'SLUICE_GIT_SECRET',
  /** JSON `{"targets": {name: queueUrl}, "regions": {region: queueUrl}}`: where each target's agent listens. */
  agentQueues: 'SLUICE_AGENT_QUEUES',
  /** Where isomorphic-git caches repositories; in Lambda, under /tmp. */
  gitCacheDir: 'SLUICE_GIT_CACHE_DIR',
  /** kubectl (kustomize built in) and helm, from the KubectlV34 layer in the render function. */
  kubectl: 'SLUICE_KUBECTL',
  /** JSON `{"<target>": "<EKS cluster name>"}`: targets the Lambda agent reaches through IAM. */
  eksClusters: 'SLUICE_EKS_CLUSTERS',
  helm: 'SLUICE_HELM',
  /** JSON `{"owner/name": "https://…/name.git"}`: clone URLs of config repos not on github.com (rollback). */
  repoUrls: 'SLUICE_REPO_URLS',
  /**
   * JSON `[{"name": "owner/name", "url": "https://…/name.git", "branches": ["main"]}]`: the config
   * repos that may deploy (sluice.deploy.yaml `management.repos`). Ingest refuses any other repo,
   * plan clones only these URLs. Unset means none: every push is refused until repos are listed.
   */
  repos: 'SLUICE_REPOS',
  /** The reconcile queue: ingest schedules a branch check there when it throttles a push (429). */
  reconcileQueueUrl: 'SLUICE_RECONCILE_QUEUE_URL',
  /**
   * The rollout queue (docs/progressive-delivery.md): dispatch, report and rollout schedule a
   * rollout's wake-ups there as delayed messages.
   */
  rolloutQueueUrl: 'SLUICE_ROLLOUT_QUEUE_URL',
  /**
   * The agent's health queue (a Lambda agent): it looks at a rollout's health once after applying
   * and schedules the next look there as a delayed message instead of waiting (docs/agent.md).
   */
  healthQueueUrl: 'SLUICE_HEALTH_QUEUE_URL',
  /** The health queue's dead-letter queue: a poison re-check is parked there, not in the FIFO agent DLQ. */
  healthDeadLetterQueueUrl: 'SLUICE_HEALTH_DEAD_LETTER_QUEUE_URL',
  /** The dispatch queue itself: dispatch splits a bundle for many targets into chunks there. */
  dispatchQueueUrl: 'SLUICE_DISPATCH_QUEUE_URL',
  /** The dead-letter queue of the queue feeding this function: poison is parked there at once. */
  deadLetterQueueUrl: 'SLUICE_DEAD_LETTER_QUEUE_URL',
  /**
   * The KMS key that signs bundles (ARN, or alias ARN across accounts): dispatch and rollback sign
   * with it, agents verify against its public key.
   */
  signingKey: 'SLUICE_SIGNING_KEY',
  /**
   * JSON of sluice.deploy.yaml `management.trust` (docs/provenance.md): plan checks commit
   * signatures against it. Unset: nothing is verified.
   */
  trust: 'SLUICE_TRUST_POLICY',
  /**
   * The secret (ARN) holding the seed of Sluice's own commit-signing key: rollback signs its
   * reverts with it (docs/provenance.md). Unset: reverts are unsigned.
   */
  commitSigningKey: 'SLUICE_COMMIT_SIGNING_KEY',
} as const;

const agentQueuesSchema = z.object({
  targets: z.record(z.string(), z.url()).default({}),
  regions: z.record(z.string(), z.url()).default({}),
});

export type AgentQueueUrls = z.infer<typeof agentQueuesSchema>;

/** A JSON setting validated by `schema`; a bad value names the setting, never a secret, and the fix. */
const parseJsonSetting = <T>(name: string, raw: string, schema: z.ZodType<T>, fix: string): T => {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError('environment', name, `is not JSON (got ${JSON.stringify(raw.slice(0, 80))})`, fix);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      'environment',
      `${name}.${issue?.path.join('.')}`,
      issue?.message ?? 'invalid',
      fix,
    );
  }
  return parsed.data;
};

/** The agent queue map the dispatch function routes Apply Requested by: target name first, then region. */
export const readAgentQueueUrls = (env: Env = process.env): AgentQueueUrls =>
  parseJsonSetting(
    SLUICE_ENV.agentQueues,
    requireEnv(SLUICE_ENV.agentQueues, env),
    agentQueuesSchema,
    fixQueues,
  );

const repoUrlsSchema = z.record(z.string(), z.url());

/**
 * The clone URL of a config repo named in events (`acme/fleet`), for the rollback function: the
 * configured one (SLUICE_REPOS, SLUICE_REPO_URLS). A repo not configured is refused, never guessed
 * from its name: a clone URL comes from configuration only.
 */
export const readRepoUrls = (env: Env = process.env): ((repo: string) => string) =>
  cloneUrlOf(readDeployRepos(env));

/** The configured config repos and their clone URLs (SLUICE_REPOS, SLUICE_REPO_URLS). */
export const readRepoUrlMap = (env: Env = process.env): Readonly<Record<string, string>> =>
  Object.fromEntries(readDeployRepos(env).repos.map((r) => [r.name, r.url]));

const legacyRepoUrls = (env: Env): Readonly<Record<string, string>> =>
  parseJsonSetting(
    SLUICE_ENV.repoUrls,
    env[SLUICE_ENV.repoUrls]?.trim() || '{}',
    repoUrlsSchema,
    'set it to {"<owner/name>":"<clone url>"} (management.repoUrls in sluice.deploy.yaml)',
  );

/** The trust policy plan enforces (SLUICE_TRUST_POLICY), or undefined when none is configured. */
export const readTrustPolicy = (env: Env = process.env): TrustPolicy | undefined => {
  const raw = env[SLUICE_ENV.trust]?.trim();
  if (!raw) return undefined;
  const policy = parseJsonSetting(
    SLUICE_ENV.trust,
    raw,
    trustPolicySchema,
    'set management.trust in sluice.deploy.yaml and deploy again (docs/provenance.md)',
  );
  return checkTrustPolicy(policy, `environment ${SLUICE_ENV.trust}`);
};

/**
 * The repos that may deploy, with their clone URLs and deploy branches: SLUICE_REPOS, plus every
 * SLUICE_REPO_URLS entry it does not name (deploying `main`). A malformed value fails at start-up.
 */
export const readDeployRepos = (env: Env = process.env): RepoCatalog => {
  const listed = parseJsonSetting(
    SLUICE_ENV.repos,
    env[SLUICE_ENV.repos]?.trim() || '[]',
    deployReposSchema,
    'set it to [{"name":"<owner/name>","url":"<clone url>","branches":["main"]}] (management.repos in sluice.deploy.yaml)',
  );
  const legacy = Object.entries(legacyRepoUrls(env))
    .filter(([name]) => !listed.some((r) => r.name === name))
    .map(([name, url]) => ({ name, url }));
  return repoCatalog([...listed, ...legacy], SLUICE_ENV.repos);
};

const fixQueues = 'set it to {"targets":{"<target>":"<queue url>"},"regions":{"<region>":"<queue url>"}}';

/** The agent's EKS targets (target → cluster name); none when SLUICE_EKS_CLUSTERS is unset. */
export const readEksClusters = (env: Env = process.env): Readonly<Record<string, string>> => {
  const raw = env[SLUICE_ENV.eksClusters]?.trim();
  if (!raw) return {};
  const parsed = z.record(z.string().min(1), z.string().min(1)).safeParse(safeParse(raw));
  if (!parsed.success) {
    throw new ConfigError(
      'environment',
      SLUICE_ENV.eksClusters,
      `is not a JSON object of target → EKS cluster name (got ${JSON.stringify(raw.slice(0, 80))})`,
      'set it to {"<target>": "<cluster name>"}',
    );
  }
  return parsed.data;
};

const safeParse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

export interface GitSettings {
  /** Where cloned repositories are cached; /tmp in Lambda. */
  readonly cacheDir: string;
  /** Credentials for every config repo from the Git secret; undefined (anonymous) when it has no username. */
  readonly auth: (secrets: SecretStore) => () => Promise<{ username: string; password: string } | undefined>;
}

/** Git settings of the plan and render functions: the credentials secret and the cache folder. */
export const readGitSettings = (env: Env = process.env): GitSettings => {
  const secret = requireEnv(SLUICE_ENV.gitSecret, env);
  return {
    cacheDir: env[SLUICE_ENV.gitCacheDir]?.trim() || '/tmp/sluice-git',
    auth: (secrets) => async () => {
      const raw = await secrets.get(`aws-sm://${secret}`);
      let value: { username?: unknown; password?: unknown } = {};
      try {
        value = JSON.parse(raw) as typeof value;
      } catch {
        // No cause and no value in the message: JSON.parse would quote the secret.
        throw new ConfigError('secret', SLUICE_ENV.gitSecret, 'is not a JSON object', gitSecretFix);
      }
      if (typeof value.username !== 'string' || value.username === '') return undefined;
      if (typeof value.password !== 'string') {
        throw new ConfigError('secret', `${SLUICE_ENV.gitSecret}.password`, 'is missing', gitSecretFix);
      }
      return { username: value.username, password: value.password };
    },
  };
};

const gitSecretFix =
  'store {"username": "<user or x-access-token>", "password": "<token>"} in the Git secret';

export interface VaultSettings {
  readonly address: string;
  readonly token: string;
  readonly namespace?: string;
}

/**
 * Vault from its own variables: VAULT_ADDR, VAULT_TOKEN and (Enterprise/HCP) VAULT_NAMESPACE.
 * Undefined when VAULT_ADDR is unset; a VAULT_ADDR without a token fails loudly.
 */
export const readVaultSettings = (env: Env = process.env): VaultSettings | undefined => {
  const address = env.VAULT_ADDR?.trim();
  if (!address) return undefined;
  if (!/^https?:\/\/[^\s]+$/.test(address)) {
    throw new ConfigError(
      'environment',
      'VAULT_ADDR',
      `is not an http(s) URL (got ${JSON.stringify(address)})`,
      'export VAULT_ADDR=https://vault.example.com:8200',
    );
  }
  const token = requireEnv('VAULT_TOKEN', env);
  const namespace = env.VAULT_NAMESPACE?.trim();
  return namespace ? { address, token, namespace } : { address, token };
};

/** `SLUICE_GITHUB_TOKEN`, `SLUICE_GITLAB_API_URL`, …: where `sluice webhook` finds a provider's API. */
export const providerEnvNames = (provider: string): { token: string; apiUrl: string } => {
  const prefix = `SLUICE_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  return { token: `${prefix}_TOKEN`, apiUrl: `${prefix}_API_URL` };
};

/** A provider's API token (required) and base URL (optional) from the environment. */
export const readProviderApiSettings = (
  provider: string,
  env: Env = process.env,
): { readonly token: string; readonly apiUrl?: string } => {
  const names = providerEnvNames(provider);
  const token = requireEnv(names.token, env);
  const apiUrl = env[names.apiUrl]?.trim();
  return apiUrl ? { token, apiUrl } : { token };
};

/** The render bounds of this host (docs/security.md#limits); sluice.yaml cannot raise them. */
export interface RenderHostLimits {
  readonly render: RenderLimits;
  readonly tools: ToolLimits;
}

/**
 * A whole-number host setting: undefined when unset, else at least `min`; a malformed value fails
 * loudly, naming the variable and the fix (with the default when the caller has one).
 */
const wholeNumber = (
  env: Env,
  name: string,
  { min = 1, fallback }: { min?: number; fallback?: number } = {},
): number | undefined => {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(
      'environment',
      name,
      `must be a whole number of at least ${min} (got ${JSON.stringify(raw)})`,
      fallback === undefined
        ? `export ${name}=<n>, or unset it for the default`
        : `export ${name}=${fallback} (the default), or unset it`,
    );
  }
  return value;
};

/** The whole-number settings of a `{ key: VARIABLE }` map that are set (the others keep their defaults). */
const wholeNumbers = <K extends string>(
  env: Env,
  names: Readonly<Record<K, string>>,
): Partial<Record<K, number>> => {
  const out: Partial<Record<K, number>> = {};
  for (const [key, name] of Object.entries(names) as [K, string][]) {
    const value = wholeNumber(env, name);
    if (value !== undefined) out[key] = value;
  }
  return out;
};

export const RENDER_LIMIT_ENV = {
  maxFileBytes: 'SLUICE_RENDER_MAX_FILE_BYTES',
  maxObjects: 'SLUICE_RENDER_MAX_OBJECTS',
  maxRenderedBytes: 'SLUICE_RENDER_MAX_RENDERED_BYTES',
  maxAliasCount: 'SLUICE_RENDER_MAX_ALIASES',
  timeoutSeconds: 'SLUICE_RENDER_TIMEOUT_SECONDS',
  memoryMb: 'SLUICE_RENDER_MEMORY_MB',
} as const;

/** Reads the render bounds; each unset variable keeps its default, a malformed one fails loudly. */
export const readRenderLimits = (env: Env = process.env): RenderHostLimits => {
  const whole = (name: string, fallback: number, min = 1): number =>
    wholeNumber(env, name, { min, fallback }) ?? fallback;
  const d = DEFAULT_RENDER_LIMITS;
  const t = DEFAULT_TOOL_LIMITS;
  const maxRenderedBytes = whole(RENDER_LIMIT_ENV.maxRenderedBytes, d.maxRenderedBytes);
  const mib = 1024 * 1024;
  return {
    render: {
      maxFileBytes: whole(RENDER_LIMIT_ENV.maxFileBytes, d.maxFileBytes),
      maxObjects: whole(RENDER_LIMIT_ENV.maxObjects, d.maxObjects),
      maxRenderedBytes,
      maxAliasCount: whole(RENDER_LIMIT_ENV.maxAliasCount, d.maxAliasCount, 0),
    },
    tools: {
      timeoutMs: whole(RENDER_LIMIT_ENV.timeoutSeconds, t.timeoutMs / 1000) * 1000,
      memoryBytes: whole(RENDER_LIMIT_ENV.memoryMb, t.memoryBytes / mib, MIN_TOOL_MEMORY_BYTES / mib) * mib,
      maxOutputBytes: maxRenderedBytes,
    },
  };
};

/** Host settings for the git checkout bounds (shared/adapters/git/tree-guard.ts, docs/security.md#limits). */
export const CHECKOUT_LIMIT_ENV = {
  maxFileBytes: 'SLUICE_CHECKOUT_MAX_FILE_BYTES',
  maxTotalBytes: 'SLUICE_CHECKOUT_MAX_TOTAL_BYTES',
  maxEntries: 'SLUICE_CHECKOUT_MAX_ENTRIES',
  maxDepth: 'SLUICE_CHECKOUT_MAX_DEPTH',
} as const;

/**
 * The checkout bounds this host sets: only the variables that are set (the git source keeps its
 * default for the others); a malformed one fails loudly, naming the variable.
 */
export const readCheckoutLimits = (
  env: Env = process.env,
): Partial<Record<keyof typeof CHECKOUT_LIMIT_ENV, number>> => {
  return wholeNumbers(env, CHECKOUT_LIMIT_ENV);
};

/** Host settings for `sluice dev`'s in-memory webhook dedupe (docs/security.md#limits). */
export const DEDUPE_LIMIT_ENV = {
  maxEntries: 'SLUICE_DEDUPE_MAX_ENTRIES',
  maxTtlSeconds: 'SLUICE_DEDUPE_MAX_TTL_SECONDS',
} as const;

/** The dedupe bounds this host sets (only those set; the store keeps its default for the others). */
export const readDedupeLimits = (env: Env = process.env): { maxEntries?: number; maxTtlSeconds?: number } => {
  return wholeNumbers(env, DEDUPE_LIMIT_ENV);
};

/**
 * The kubeconfig files `sluice dev` reads for kubeconfig targets, resolved as kubectl does: the
 * flag's file, else every file in KUBECONFIG (merged, the first one's current-context wins), else
 * ~/.kube/config. The files are the operator's; a config repo can only name a context in them.
 */
export const kubeconfigFiles = (flag: string | undefined, home: string, env: Env = process.env): string[] => {
  if (flag) return [flag];
  const list = (env.KUBECONFIG ?? '').split(':').filter((f) => f.trim() !== '');
  return list.length > 0 ? list : [`${home}/.kube/config`];
};
