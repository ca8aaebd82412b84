import { z } from 'zod';

/** Every event on the `sluice` bus uses this source. */
export const EVENT_SOURCE = 'sluice';
export const SCHEMA_VERSION = 1;

export const sha = z.string().regex(/^[0-9a-f]{40}$/, 'must be a full 40-character hex commit id');
export const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex>');
const isoTime = z.iso.datetime({ offset: true });

/** Fields every event carries, so `sluice trace` can rebuild a push's story from events alone. */
const base = {
  schemaVersion: z.literal(SCHEMA_VERSION),
  traceId: z.string().min(8),
  /** Repository full name, e.g. `acme/fleet`. */
  repo: z.string().min(1),
  branch: z.string().min(1),
  commit: sha,
  occurredAt: isoTime,
};

export const targetRef = z.object({
  name: z.string().min(1),
  cloud: z.string().min(1),
  region: z.string().min(1),
  agent: z.enum(['lambda', 'in-cluster']),
  /** How the agent reaches the cluster, when the host picks the client per target (`sluice dev`). Never credentials. */
  cluster: z.object({ kind: z.string().min(1), context: z.string().min(1).optional() }).optional(),
});

export const bundleRef = z.object({
  /** Object key in the bundle store; content-addressed, `bundles/<hex>.json`. */
  key: z.string().min(1),
  digest,
  size: z.number().int().nonnegative(),
  objects: z.number().int().nonnegative(),
  /** Over `sluice-bundle:v1:<digest>`, by the control plane's key (Ed25519 locally, KMS ECDSA P-256 in AWS); checked by the agent. */
  signature: z
    .object({
      keyId: z.string().min(1),
      algorithm: z.enum(['ed25519', 'ecdsa-p256-sha256']),
      value: z.string().min(1),
    })
    .optional(),
});

export const syncOptions = z.object({ prune: z.boolean(), selfHeal: z.boolean() });

/** Who signed a commit, as the trust policy names them, and the key (docs/provenance.md). */
export const commitSignature = z.object({ signer: z.string(), fingerprint: z.string() });

export const renderSpec = z.object({
  app: z.string().min(1),
  path: z.string().min(1),
  base: z.string().min(1).optional(),
  environment: z.string().min(1).optional(),
  overlay: z.string().min(1).optional(),
  values: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  namespace: z.string().optional(),
  disabledPolicies: z.array(z.string()),
  sync: syncOptions,
  /** directory | kustomize | helm; detected from the tree when absent. */
  kind: z.enum(['directory', 'kustomize', 'helm']).optional(),
  helm: z
    .object({
      chart: z.string().min(1).optional(),
      repo: z.string().min(1).optional(),
      name: z.string().min(1).optional(),
      version: z.string().min(1).optional(),
      /** `sha256:<hex>` of a repository chart's archive. */
      digest: z.string().min(1).optional(),
      releaseName: z.string().min(1).optional(),
      includeCrds: z.boolean(),
    })
    .optional(),
  /** Helm values files, relative to the app path, in layering order. */
  valueFiles: z.array(z.string().min(1)).optional(),
  /** Flux-style post-build variables (`${VAR}`, `${VAR:=default}`); absent: `${VAR}` stays literal. */
  substitute: z.record(z.string(), z.string()).optional(),
  /** Directory apps: `recurse: false` reads only the files directly in the base directory. */
  directory: z.object({ recurse: z.boolean() }).optional(),
  /** Present only for apps with targetValues: the target this render is for. */
  target: z
    .object({
      name: z.string().min(1),
      cloud: z.string().min(1),
      region: z.string().min(1),
      cluster: z.string().min(1),
      labels: z.record(z.string(), z.string()),
    })
    .optional(),
});

export const violation = z.object({
  policy: z.string(),
  /** `Kind/namespace/name` or `Kind/name`. */
  object: z.string(),
  file: z.string(),
  message: z.string(),
  fix: z.string(),
  /** `warning`: reported, never a rejection (e.g. a custom kind no CRD covers: "not checked"). */
  severity: z.literal('warning').optional(),
});

export const commitPushed = z.object({
  ...base,
  deliveryId: z.string().min(1),
  provider: z.string().min(1),
  /** Clone URL; never carries credentials. */
  repoUrl: z.string().url(),
  ref: z.string().min(1),
  before: z.string().regex(/^[0-9a-f]{40}$/),
  forced: z.boolean(),
  deleted: z.boolean(),
  pusher: z.string().optional(),
  message: z.string().max(2000).optional(),
  receivedAt: isoTime,
});

export const releasePlanned = z.object({
  ...base,
  repoUrl: z.string().url(),
  generation: z.number().int().positive(),
  previousCommit: sha.nullable(),
  changedPaths: z.number().int().nonnegative(),
  releases: z.array(
    z.object({
      spec: renderSpec,
      targets: z.array(targetRef).min(1),
    }),
  ),
  /** With a trust policy: who signed the planned commit, and the key (docs/provenance.md). */
  commitSignature: commitSignature.optional(),
});

export const releaseSkipped = z.object({
  ...base,
  reason: z.enum([
    'superseded',
    'already-planned',
    'no-app-changed',
    'branch-deleted',
    'invalid-config',
    /** The branch is not a deploy branch of its repo (deployment config, narrowed by sluice.yaml). */
    'branch-not-configured',
    /** The repo is not in the deployment config: nothing is cloned. */
    'repo-not-configured',
    /** The trust policy refused every target of the affected apps (see their Release Rejected). */
    'untrusted',
  ]),
  supersededBy: sha.optional(),
  message: z.string(),
});

/**
 * Targets of one app that a planned commit may not reach: its signature, or one of the commits
 * before it, fails the trust policy (docs/provenance.md). The app's other targets proceed.
 */
export const releaseRejected = z.object({
  ...base,
  generation: z.number().int().positive(),
  app: z.string(),
  targets: z.array(z.string()).min(1),
  reason: z.enum(['unsigned', 'bad-signature', 'unknown-signer', 'signer-not-allowed', 'no-trust-rule']),
  /** The commit whose signature failed: the planned one, or an earlier one (every-commit mode). */
  signedCommit: sha,
  /** The signing key: `SHA256:…` (SSH) or the OpenPGP fingerprint. */
  fingerprint: z.string().optional(),
  signer: z.string().optional(),
  message: z.string(),
});

export const bundleVerified = z.object({
  ...base,
  generation: z.number().int().positive(),
  app: z.string(),
  environment: z.string().optional(),
  bundle: bundleRef,
  targets: z.array(targetRef).min(1),
  sync: syncOptions,
  /** True when this bundle came from a cache of an identical earlier render. */
  cached: z.boolean(),
  /** Policy warnings of the render (never a rejection), e.g. custom kinds not checked. */
  warnings: z.array(violation).optional(),
  /** The plan's commitSignature, carried to the agent for the objects' attribution annotations. */
  commitSignature: commitSignature.optional(),
});

export const policyRejected = z.object({
  ...base,
  generation: z.number().int().positive(),
  app: z.string(),
  environment: z.string().optional(),
  targets: z.array(z.string()),
  violations: z.array(violation).min(1),
});

export const renderFailed = z.object({
  ...base,
  generation: z.number().int().positive(),
  app: z.string(),
  environment: z.string().optional(),
  targets: z.array(z.string()),
  error: z.object({ code: z.string(), message: z.string() }),
});

export const applyRequested = z.object({
  ...base,
  generation: z.number().int().positive(),
  app: z.string(),
  target: targetRef,
  bundle: bundleRef,
  sync: syncOptions,
  /** Set when a rollback re-dispatches a known-good bundle. */
  rollbackOf: sha.optional(),
  /** Who signed `commit` (the plan's commitSignature): written on each applied object (shared/core/attribution.ts). */
  commitSignature: commitSignature.optional(),
});

const outcome = {
  ...base,
  generation: z.number().int().positive(),
  app: z.string(),
  target: z.string(),
  digest,
};

export const deploymentSucceeded = z.object({
  ...outcome,
  applied: z.number().int().nonnegative(),
  unchanged: z.number().int().nonnegative(),
  pruned: z.number().int().nonnegative(),
  durationMs: z.number().nonnegative(),
  rollbackOf: sha.optional(),
  /** The key whose bundle signature this agent verified before reading the bundle (signing required). */
  bundleKey: z.string().optional(),
});

export const deploymentFailed = z.object({
  ...outcome,
  reason: z.string(),
  message: z.string(),
  objects: z.array(z.string()).default([]),
  rollbackOf: sha.optional(),
});

export const deploymentSkipped = z.object({
  ...outcome,
  /** prune-disabled / not-owned: a removal the agent declined (docs/agent.md#removing-an-app). */
  reason: z.enum(['stale', 'duplicate', 'prune-disabled', 'not-owned']),
  message: z.string(),
  appliedGeneration: z.number().int().nonnegative(),
});

/** Why an app leaves a target: gone from sluice.yaml, or its selector no longer picks the target. */
const removalReason = z.enum(['app-removed', 'target-deselected']);

/**
 * Plan: an app this repo's branch deployed to a target is no longer in its config there. Dispatch
 * signs it and hands it to the target's agent, which removes the app's objects only when the last
 * deployed config had sync.prune. `digest` names the removal (removalDigest), so it can be signed.
 */
export const removalRequested = z.object({
  ...base,
  generation: z.number().int().positive(),
  app: z.string(),
  target: targetRef,
  reason: removalReason,
  digest,
  /** Dispatch's signature over `digest`, as for a bundle; checked by the agent. */
  signature: bundleRef.shape.signature,
});

/** The agent removed the app from the target: every object it owned there is deleted. */
export const deploymentRemoved = z.object({
  ...outcome,
  reason: removalReason,
  removed: z.number().int().nonnegative(),
});

export const rollbackRequested = z.object({
  ...base,
  app: z.string(),
  targets: z.array(z.string()),
  trigger: z.enum(['alarm', 'deployment-failed', 'manual']),
  alarm: z.object({ name: z.string(), arn: z.string().optional() }).optional(),
  toCommit: sha.optional(),
  reason: z.string(),
});

/** A rollback that was asked for and not carried out, and why (no loops: one rollback per bad release). */
export const rollbackSkipped = z.object({
  ...base,
  app: z.string(),
  targets: z.array(z.string()),
  reason: z.enum([
    'duplicate',
    'already-rolled-back',
    'outside-bake-window',
    'superseded',
    'no-known-good',
    'not-opted-in',
    'not-deployed',
  ]),
  message: z.string(),
});

/** The rollback written into Git: `commit` is the reverted (bad) commit, `revertCommit` the new one. */
export const revertCommitted = z.object({
  ...base,
  app: z.string(),
  revertCommit: sha,
  paths: z.array(z.string()),
  /** Set when the app asks for review: the revert waits on this branch and pull request. */
  pullRequest: z
    .object({ url: z.string(), number: z.number().int().positive(), branch: z.string() })
    .optional(),
});

/** The revert could not be written; `conflict` means newer commits changed the same files (never forced). */
export const revertFailed = z.object({
  ...base,
  app: z.string(),
  /** `partial`: only some of the app's targets were rolled back, so Git cannot say it for all. */
  reason: z.enum(['conflict', 'partial', 'error']),
  paths: z.array(z.string()),
  head: sha.optional(),
  message: z.string(),
});

export const driftDetected = z.object({
  ...base,
  app: z.string(),
  target: z.string(),
  digest,
  diffs: z.array(
    z.object({
      object: z.string(),
      path: z.string(),
      desired: z.unknown(),
      live: z.unknown(),
      /** The field manager holding the live value (e.g. `kubectl-edit`), when the cluster says. */
      manager: z.string().optional(),
    }),
  ),
  healed: z.boolean(),
});

/**
 * Asks an agent to check its apps for drift now. A schedule sends it, not a push, so it has no
 * traceId, repo or commit and `sluice trace` never matches it; each Drift Detected it leads to
 * carries its app's own. `targets`: the clusters to check (an agent serving several needs them);
 * `apps`: only these apps. Not in `eventSchemas`: no Sluice code publishes it, and every event
 * there carries the trace fields.
 */
export const driftCheckRequested = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  requestedBy: z.string().min(1),
  targets: z.array(z.string().min(1)).min(1).optional(),
  apps: z.array(z.string().min(1)).min(1).optional(),
});

/**
 * Asks the reconcile consumer to compare branch heads with the last planned commits: the schedule
 * puts it on the bus every `reconcileMinutes`; ingest sends it, delayed, to the reconcile queue when
 * it throttles an authenticated push. `repo`: only that repository's branches. No trace fields, so
 * like Drift Check Requested it is not in `eventSchemas`.
 */
export const reconcileRequested = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  requestedBy: z.string().min(1),
  repo: z.string().min(1).optional(),
});

/** A rollout's step, wave by wave (docs/progressive-delivery.md): what `sluice trace` tells. */
export const rolloutProgressed = z.object({
  ...base,
  app: z.string(),
  wave: z.string(),
  step: z.enum([
    'started',
    'healthy',
    'baking',
    'baked',
    'awaiting-approval',
    'approved',
    'halted',
    'completed',
  ]),
  state: z.enum(['Progressing', 'Baking', 'AwaitingApproval', 'Halted', 'Completed']),
  targets: z.array(z.string()),
  message: z.string(),
});

/** `sluice approve --app A --wave W [--commit SHA]`: lets a rollout's approval wave start. */
export const rolloutApproved = z.object({
  ...base,
  app: z.string().min(1),
  wave: z.string().min(1),
  by: z.string().max(200).optional(),
});

/** detail-type → detail schema: the one definition of every event on the bus. */
export const eventSchemas = {
  'Commit Pushed': commitPushed,
  'Release Planned': releasePlanned,
  'Release Skipped': releaseSkipped,
  'Release Rejected': releaseRejected,
  'Bundle Verified': bundleVerified,
  'Policy Rejected': policyRejected,
  'Render Failed': renderFailed,
  'Apply Requested': applyRequested,
  'Deployment Succeeded': deploymentSucceeded,
  'Deployment Failed': deploymentFailed,
  'Deployment Skipped': deploymentSkipped,
  'Removal Requested': removalRequested,
  'Deployment Removed': deploymentRemoved,
  'Rollback Requested': rollbackRequested,
  'Rollback Skipped': rollbackSkipped,
  'Revert Committed': revertCommitted,
  'Revert Failed': revertFailed,
  'Drift Detected': driftDetected,
  'Rollout Progressed': rolloutProgressed,
  'Rollout Approved': rolloutApproved,
} as const;

export type DetailType = keyof typeof eventSchemas;
export type EventDetail<T extends DetailType> = z.infer<(typeof eventSchemas)[T]>;

export type CommitPushed = EventDetail<'Commit Pushed'>;
export type ReleasePlanned = EventDetail<'Release Planned'>;
export type ReleaseSkipped = EventDetail<'Release Skipped'>;
export type ReleaseRejected = EventDetail<'Release Rejected'>;
export type BundleVerified = EventDetail<'Bundle Verified'>;
export type PolicyRejected = EventDetail<'Policy Rejected'>;
export type RenderFailed = EventDetail<'Render Failed'>;
export type ApplyRequested = EventDetail<'Apply Requested'>;
export type DeploymentSucceeded = EventDetail<'Deployment Succeeded'>;
export type DeploymentFailed = EventDetail<'Deployment Failed'>;
export type DeploymentSkipped = EventDetail<'Deployment Skipped'>;
export type RemovalRequested = EventDetail<'Removal Requested'>;
export type DeploymentRemoved = EventDetail<'Deployment Removed'>;
export type RollbackRequested = EventDetail<'Rollback Requested'>;
export type RollbackSkipped = EventDetail<'Rollback Skipped'>;
export type RevertCommitted = EventDetail<'Revert Committed'>;
export type RevertFailed = EventDetail<'Revert Failed'>;
export type DriftDetected = EventDetail<'Drift Detected'>;
export type RolloutProgressed = EventDetail<'Rollout Progressed'>;
export type RolloutApproved = EventDetail<'Rollout Approved'>;
export type DriftCheckRequested = z.infer<typeof driftCheckRequested>;
export type ReconcileRequested = z.infer<typeof reconcileRequested>;
export type TargetRef = z.infer<typeof targetRef>;
export type BundleRef = z.infer<typeof bundleRef>;
export type RenderSpec = z.infer<typeof renderSpec>;
export type Violation = z.infer<typeof violation>;
export type SyncOptions = z.infer<typeof syncOptions>;

/** What a core hands to the EventBus: typed detail, checked against its schema on publish. */
export type OutboundEvent = { [T in DetailType]: { detailType: T; detail: EventDetail<T> } }[DetailType];

/** The EventBridge envelope, as an SQS target receives it in the message body. */
export const envelopeSchema = z.object({
  version: z.string().default('0'),
  id: z.string(),
  'detail-type': z.string(),
  source: z.string(),
  account: z.string().optional(),
  time: z.string(),
  region: z.string().optional(),
  resources: z.array(z.string()).default([]),
  detail: z.unknown(),
});
export type Envelope = z.infer<typeof envelopeSchema>;

export const isDetailType = (value: string): value is DetailType => Object.hasOwn(eventSchemas, value);
