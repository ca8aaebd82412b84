/**
 * The deploy configuration: where the management stack goes and which account/region pairs get a
 * regional agent stack. Read from a file (`sluice.deploy.yaml`/`.json`, or `-c sluice:config=PATH`)
 * or from the `sluice` context key in cdk.json, and validated here so a mistake is reported with
 * the key, the bad value and the fix before anything is synthesised.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { checkTrustPolicy } from '../shared/core/provenance.ts';
import { ConfigError } from '../shared/errors.ts';
import { type DeployRepoInput, deployReposSchema } from '../shared/schemas/repos.ts';
import { type TrustPolicy, trustPolicySchema } from '../shared/schemas/trust.ts';

const ACCOUNT = 'must be a 12-digit AWS account id in quotes, e.g. "111111111111"';
const account = z.string({ error: ACCOUNT }).regex(/^\d{12}$/, ACCOUNT);
const region = z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region such as us-east-1');
const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS label (a-z, 0-9, -)');

const httpsUrl = z
  .url({ error: 'must be an https:// URL' })
  .regex(/^https:\/\//, 'must be an https:// URL (SNS delivers alarms over TLS only here)');

/** Who hears about alarms: subscriptions to the management stack's `sluice-alerts` topic. */
const alertsSchema = z.strictObject({
  /** Email addresses; each confirms its subscription from the message SNS sends. */
  emails: z.array(z.email({ error: 'must be an email address' })).default([]),
  /** HTTPS endpoints (PagerDuty, Opsgenie, a webhook); each confirms its subscription. */
  https: z.array(httpsUrl).default([]),
  /** Slack channels through AWS Chatbot (the workspace is authorised once in the Chatbot console). */
  slack: z
    .array(
      z.strictObject({
        workspaceId: z.string().regex(/^[A-Z0-9]{9,11}$/, 'must be a Slack workspace id such as T0123ABCD'),
        channelId: z.string().regex(/^[A-Z0-9]{9,11}$/, 'must be a Slack channel id such as C0123ABCD'),
      }),
    )
    .default([]),
});

const managementSchema = z.strictObject({
  account,
  region,
  /** @default 'SluiceManagement' */
  stackName: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must start with a letter; letters, digits and - only')
    .default('SluiceManagement'),
  /** How long a push waits on the plan queue, so a burst to one branch collapses into one plan. */
  coalesceSeconds: z.number().int().min(0).max(900).default(2),
  /** Period of the reconciliation poll (Reconcile Requested on the bus). */
  reconcileMinutes: z.number().int().min(1).max(1440).default(5),
  /** Period of the drift checks (Drift Check Requested on the bus). */
  driftCheckMinutes: z.number().int().min(1).max(1440).default(15),
  /**
   * The older form of `repos`: clone URLs by the name events carry (`owner/name`); each entry
   * `repos` does not name deploys `main`. A repo in neither list is never cloned.
   */
  repoUrls: z
    .record(
      z.string().min(1),
      z.url({ error: 'must be a clone URL such as https://git.example.com/acme/fleet.git' }),
    )
    .default({}),
  /**
   * The config repos that may deploy: `{ name, url, branches? }` each. A webhook naming any other
   * repo is refused (403) and never cloned; clone URLs come from here, never from a payload; only
   * the listed branches deploy (default `main`; sluice.yaml `branches:` may narrow them).
   * `repoUrls` entries not listed here count too, deploying `main`.
   */
  repos: deployReposSchema.default([]),
  /**
   * The trust policy (docs/provenance.md): which signers may deploy to which targets. The plan
   * function verifies commit signatures against it; absent, nothing is verified.
   */
  trust: trustPolicySchema.optional(),
  /** Alarm subscribers; alarms of every stack reach them through the management topic. */
  alerts: alertsSchema.prefault({}),
});

const regionalSchema = z.strictObject({
  account,
  region,
  /** `lambda`: an agent Lambda in this account/region; `in-cluster`: an IAM role for `sluice agent`. */
  agent: z.enum(['lambda', 'in-cluster']),
  /**
   * The fleet targets (sluice.yaml `targets[].name`) this agent serves. Optional when this is the
   * only regional stack in its region: every target in the region is then routed here.
   */
  targets: z.array(dnsLabel).default([]),
  /** Secrets the agent may read when resolving `aws-sm://` references: names starting with this. */
  secretPrefix: z.string().min(1).default('sluice/'),
  /**
   * Targets on EKS the Lambda agent reaches through IAM (DescribeCluster + an STS token), by
   * target name: the sluice.yaml `cluster: {kind: eks, name}` of each. Others use the kubeconfig
   * in Secrets Manager `sluice/clusters/<target>`.
   */
  eksClusters: z.record(dnsLabel, z.string().min(1).max(100)).default({}),
  /** Runs the Lambda agent in a VPC, for EKS clusters with a private endpoint. @default no VPC */
  vpc: z
    .strictObject({
      vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'must be a VPC id such as vpc-0123456789abcdef0'),
      subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'must be subnet ids')).min(1),
      securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be security group ids')).min(1),
    })
    .optional(),
  /**
   * Who may assume an in-cluster agent's role: an IAM Roles Anywhere trust anchor (on-prem, X.509
   * certificates), else a named IAM principal, else EKS Pod Identity.
   */
  agentIdentity: z
    .union([
      z.strictObject({
        rolesAnywhereTrustAnchorArn: z
          .string()
          .regex(
            /^arn:aws[-a-z]*:rolesanywhere:[a-z0-9-]+:\d{12}:trust-anchor\/[0-9a-f-]{36}$/,
            'must be a Roles Anywhere trust anchor ARN',
          ),
        /** Only certificates with this subject CN may assume the role. @default any from the anchor */
        certificateCommonName: z.string().min(1).optional(),
      }),
      z.strictObject({
        principalArn: z
          .string()
          .regex(/^arn:aws[-a-z]*:iam::\d{12}:(role|user)\/.+$/, 'must be an IAM role or user ARN'),
      }),
    ])
    .optional(),
});

export const deployConfigSchema = z.strictObject({
  management: managementSchema,
  regions: z.array(regionalSchema).default([]),
});

export type DeployConfig = z.infer<typeof deployConfigSchema>;
export type ManagementConfig = DeployConfig['management'];
export type RegionalConfig = DeployConfig['regions'][number];

export const CONFIG_FILES = ['sluice.deploy.yaml', 'sluice.deploy.yml', 'sluice.deploy.json'] as const;
const FIX_DOC = 'see docs/deploy.md for the format';

export interface LoadOptions {
  /** `-c sluice:config=PATH`: a file that must exist. */
  readonly file?: string;
  /** The `sluice` context object (cdk.json), used when no file is given or found. */
  readonly context?: unknown;
  /** Where `sluice.deploy.yaml` is looked for. @default process.cwd() */
  readonly cwd?: string;
}

/** Finds and validates the deploy config: an explicit file, else a `sluice.deploy.*` file, else context. */
export const loadDeployConfig = (options: LoadOptions = {}): DeployConfig => {
  const cwd = options.cwd ?? process.cwd();
  if (options.file !== undefined) {
    const path = resolve(cwd, options.file);
    if (!existsSync(path)) {
      throw new ConfigError(
        'context',
        'sluice:config',
        `file ${JSON.stringify(options.file)} does not exist`,
        `create it (${FIX_DOC}) or pass an existing path: cdk synth -c sluice:config=sluice.deploy.yaml`,
      );
    }
    return parseConfigFile(path);
  }
  const found = CONFIG_FILES.map((name) => join(cwd, name)).find((path) => existsSync(path));
  if (found !== undefined) return parseConfigFile(found);
  if (options.context === undefined) {
    throw new ConfigError(
      'cdk.json',
      'context.sluice',
      `no deploy config: neither ${CONFIG_FILES.join(', ')} in ${cwd} nor the "sluice" context key`,
      `create sluice.deploy.yaml with management.account and management.region (${FIX_DOC})`,
    );
  }
  return validateDeployConfig(options.context, 'cdk.json', 'context.sluice');
};

const parseConfigFile = (path: string): DeployConfig => {
  const text = readFileSync(path, 'utf8');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const { line } = lineCounter.linePos(syntax.pos[0]);
    throw new ConfigError(`${path}:${line}`, '', syntax.message, 'fix the YAML/JSON syntax on that line');
  }
  const lineOf = (keys: readonly PropertyKey[]): number | undefined => {
    // The deepest node that exists on the path: a missing key is reported at its parent.
    for (let depth = keys.length; depth >= 0; depth--) {
      const node = doc.getIn(keys.slice(0, depth) as (string | number)[], true) as
        | { range?: [number, number, number] }
        | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return validateDeployConfig(doc.toJS(), path, '', lineOf);
};

/** Validates a parsed config; errors name the file (and line), the key path, the problem and the fix. */
export const validateDeployConfig = (
  input: unknown,
  source: string,
  prefix = '',
  lineOf: (keys: readonly PropertyKey[]) => number | undefined = () => undefined,
): DeployConfig => {
  const parsed = deployConfigSchema.safeParse(input);
  const where = (keys: readonly PropertyKey[]) => {
    const line = lineOf(keys);
    return line === undefined ? source : `${source}:${line}`;
  };
  const keyPath = (keys: readonly PropertyKey[]) =>
    [prefix, ...keys.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))]
      .join('')
      .replace(/^\./, '')
      .replace(/\.\[/g, '[');
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const value = issue.path.reduce<unknown>(
      (node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key],
      input,
    );
    const got = value === undefined ? 'missing' : `got ${JSON.stringify(value)}`;
    throw new ConfigError(
      where(issue.path),
      keyPath(issue.path),
      `${issue.message} (${got})`,
      issue.code === 'unrecognized_keys'
        ? `remove the key or fix its spelling; allowed keys are listed in docs/deploy.md`
        : `set ${keyPath(issue.path)} to a valid value; ${FIX_DOC}`,
    );
  }
  const config = parsed.data;
  if (config.management.trust) {
    checkTrustPolicy(config.management.trust, source, `${keyPath(['management', 'trust'])}.`);
  }
  config.management.repos.forEach((repo, i) => {
    const first = config.management.repos.findIndex((r) => r.name === repo.name);
    if (first !== i) {
      throw new ConfigError(
        where(['management', 'repos', i]),
        keyPath(['management', 'repos', i, 'name']),
        `repository "${repo.name}" is listed twice (also management.repos[${first}])`,
        'list each repository once, with all its deploy branches',
      );
    }
  });
  const seenStack = new Map<string, number>();
  const seenTarget = new Map<string, number>();
  config.regions.forEach((r, i) => {
    const stack = `${r.account}/${r.region}`;
    const first = seenStack.get(stack);
    if (first !== undefined) {
      throw new ConfigError(
        where(['regions', i]),
        keyPath(['regions', i]),
        `account ${r.account} in ${r.region} is listed twice (also regions[${first}])`,
        'list each account/region pair once and merge their targets',
      );
    }
    seenStack.set(stack, i);
    for (const target of r.targets) {
      const other = seenTarget.get(target);
      if (other !== undefined) {
        throw new ConfigError(
          where(['regions', i, 'targets']),
          keyPath(['regions', i, 'targets']),
          `target "${target}" is also served by regions[${other}]`,
          'route each target to exactly one regional agent',
        );
      }
      seenTarget.set(target, i);
    }
    if (r.vpc && r.agent !== 'lambda') {
      throw new ConfigError(
        where(['regions', i, 'vpc']),
        keyPath(['regions', i, 'vpc']),
        `vpc is set but agent is "${r.agent}": only the Lambda agent runs in a VPC`,
        'remove vpc, or set agent: lambda',
      );
    }
    if (r.agentIdentity && r.agent !== 'in-cluster') {
      throw new ConfigError(
        where(['regions', i, 'agentIdentity']),
        keyPath(['regions', i, 'agentIdentity']),
        `agentIdentity is set but agent is "${r.agent}": it says who assumes an in-cluster agent's role`,
        'remove agentIdentity, or set agent: in-cluster',
      );
    }
    const shared = config.regions.filter((o) => o.region === r.region);
    if (shared.length > 1 && r.targets.length === 0) {
      throw new ConfigError(
        where(['regions', i]),
        keyPath(['regions', i, 'targets']),
        `${shared.length} regional stacks share ${r.region}, so its work cannot be routed by region alone`,
        `list the targets each of them serves, e.g. targets: [prod-use1]`,
      );
    }
  });
  return config;
};

/**
 * Every repo that may deploy (`management.repos`, plus `repoUrls` entries it does not name), as the
 * ingest, plan, reconcile and rollback functions read it from SLUICE_REPOS.
 */
export const deployRepos = (management: ManagementConfig): DeployRepoInput[] => [
  ...management.repos,
  ...Object.entries(management.repoUrls)
    .filter(([name]) => !management.repos.some((r) => r.name === name))
    .map(([name, url]) => ({ name, url })),
];

/** Lambda caps a function's environment at 4 KB; the trust policy must leave room for the rest. */
export const MAX_TRUST_POLICY_BYTES = 3072;

/**
 * `management.trust` as the plan function receives it (SLUICE_TRUST_POLICY, compact JSON), or a
 * ConfigError when it would not fit the function's environment.
 */
export const trustPolicyEnv = (trust: TrustPolicy): string => {
  const json = JSON.stringify(trust);
  if (Buffer.byteLength(json) > MAX_TRUST_POLICY_BYTES) {
    throw new ConfigError(
      'sluice.deploy.yaml',
      'management.trust',
      `is ${Buffer.byteLength(json)} bytes as JSON, over the ${MAX_TRUST_POLICY_BYTES} that fit in the plan function's environment`,
      'use Ed25519 keys (SSH or OpenPGP), which are a few hundred bytes each, and list fewer signers',
    );
  }
  return json;
};

/** A regional stack's name: one per account/region. */
export const regionalStackName = (r: Pick<RegionalConfig, 'account' | 'region'>): string =>
  `SluiceAgent-${r.account}-${r.region}`;
