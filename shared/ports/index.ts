/**
 * Ports: the only way the core talks to the world. Each has an in-process adapter
 * (shared/adapters/local) and a real one (git, aws, k8s, vault, github).
 */
import type {
  ApplyRequested,
  BundleRef,
  CommitPushed,
  Envelope,
  OutboundEvent,
  TargetRef,
} from '../schemas/events.ts';

export interface Clock {
  now(): Date;
}

export interface EventBus {
  /** Publishes events on the `sluice` bus. Throws only when some entry could not be delivered after retries. */
  publish(events: readonly OutboundEvent[]): Promise<void>;
}

/** Read side of the bus, for `sluice trace` and `sluice status`. */
export interface EventLog {
  /** Every event whose detail matches (commit or traceId), oldest first. */
  find(filter: { commit?: string; traceId?: string }): Promise<Envelope[]>;
}

/**
 * What became of the newest commit planned for one (app, target), from the events alone: kept so
 * `sluice status` can say why the newest commit is not the deployed one (issue 13).
 */
export interface PlannedOutcome {
  app: string;
  target: string;
  repo: string;
  branch: string;
  commit: string;
  traceId: string;
  generation: number;
  /** Planned, Rendered, Dispatched, Healthy, Failed, Refused, Policy Rejected, Release Rejected, Render Failed, Rolled Back. */
  outcome: string;
  reason?: string;
  at: string;
}

/** The newest commit seen on a branch and what planning made of it (an invalid sluice.yaml shows here). */
export interface BranchOutcome {
  repo: string;
  branch: string;
  commit: string;
  traceId: string;
  /** Pushed, Planned, Invalid Config, No App Changed, Branch Deleted. */
  outcome: string;
  reason?: string;
  at: string;
}

/** Keeps every event of the `sluice` bus (the record function on AWS; the bus's own log locally). */
export interface EventRecorder {
  /** Stores one event; storing the same envelope again changes nothing. Events without a trace are ignored. */
  record(envelope: Envelope): Promise<void>;
}

/** The read side of the record, for `sluice status` and `sluice trace`, locally and on AWS. */
export interface History {
  /** Every event of every trace that names a commit starting with `sha`, oldest first. */
  traceOf(sha: string): Promise<Envelope[]>;
  /** The newest planned commit per (app, target), and the newest commit per branch, with outcomes. */
  newest(): Promise<{ targets: PlannedOutcome[]; branches: BranchOutcome[] }>;
}

/** Asks the reconcile consumer to compare branch heads with the ledger, now or after a delay. */
export interface ReconcileTrigger {
  /** `repo`: only that repository's branches (a throttled push); none: every tracked branch. */
  request(input: { repo?: string; delaySeconds: number; requestedBy: string }): Promise<void>;
}

/** At-least-once delivery means every entry point needs a place to remember what it has seen. */
export interface IdempotencyStore {
  /** True the first time `key` is claimed within `ttlSeconds`; false for every repeat. */
  claim(key: string, ttlSeconds: number): Promise<boolean>;
  /** Gives a claim back when the work it guarded failed, so a retry is not taken for a duplicate. */
  release(key: string): Promise<void>;
}

export interface SecretStore {
  /** Resolves `aws-sm://NAME#KEY` / `vault://PATH#KEY` or a plain secret name. Never logs the value. */
  get(ref: string): Promise<string>;
}

/**
 * Unwraps a SOPS data key sealed by an AWS KMS key (KMS Decrypt with the file's encryption
 * context). The agent uses it for SOPS files with `kms` keys; the core imports no SDK.
 */
export interface KmsDecrypter {
  decrypt(input: {
    keyArn: string;
    ciphertext: Uint8Array;
    context: Readonly<Record<string, string>>;
    /** The IAM role SOPS recorded for the key, if any. */
    role?: string;
  }): Promise<Uint8Array>;
}

/** A SecretStore that can also write (`sluice webhook register` stores the secrets it generates). */
export interface WritableSecretStore extends SecretStore {
  /**
   * Replaces the whole secret at `ref` (no `#KEY`) with these fields; each is then readable as
   * `ref#FIELD`. Never logs the values.
   */
  put(ref: string, fields: Readonly<Record<string, string>>): Promise<void>;
}

/** A detached signature over a bundle's digest, made where the bundle was rendered. */
export interface BundleSignature {
  keyId: string;
  /** `ed25519`: the local key of `sluice dev`; `ecdsa-p256-sha256`: the KMS key of the deployed control plane (DER). */
  algorithm: 'ed25519' | 'ecdsa-p256-sha256';
  /** base64 */
  value: string;
}

/** Signs bundle digests at render time (a local key file, or KMS in AWS). */
export interface BundleSigner {
  sign(digest: string): Promise<BundleSignature>;
}

/** Checks a bundle's signature on the agent before anything else is done with it. */
export interface BundleVerifier {
  verify(digest: string, signature: BundleSignature): Promise<boolean>;
}

/**
 * What a commit's signature says, checked against the trust policy's signers (issue 19).
 * `fingerprint`: `SHA256:…` for an SSH key, the OpenPGP fingerprint (or key id when the signature
 * names only that) in upper-case hex.
 */
export type CommitSignature =
  | { readonly status: 'unsigned' }
  /** Signed by a key no signer of the trust policy holds. */
  | { readonly status: 'unknown-signer'; readonly fingerprint: string }
  /** Names a trusted key but does not verify over this commit's content (tampered, or corrupt). */
  | { readonly status: 'bad-signature'; readonly fingerprint: string; readonly signer?: string }
  | { readonly status: 'valid'; readonly fingerprint: string; readonly signer: string };

/** Reads and checks commit signatures in the config repository (plan, when a trust policy is set). */
export interface CommitVerifier {
  verify(repoUrl: string, branch: string, commit: string): Promise<CommitSignature>;
  /**
   * The commits after `from` up to and including `to`, newest first, each with its first parent
   * (null for a root commit). `from` null, or not reachable from `to`: the walk stops at `limit`
   * commits, or the start of the fetched history.
   */
  commitsSince(
    repoUrl: string,
    branch: string,
    from: string | null,
    to: string,
    limit: number,
  ): Promise<{ commit: string; parent: string | null }[]>;
}

export interface BundleStore {
  /** Stores bytes under their sha256; writing the same bytes twice is a no-op. */
  put(content: Uint8Array, meta: { objects: number }): Promise<BundleRef>;
  /** Reads a bundle and verifies its digest; throws NOT_FOUND or DIGEST_MISMATCH. */
  get(ref: Pick<BundleRef, 'key' | 'digest'>): Promise<Uint8Array>;
}

/** A read-only view of the config repository at one commit. */
export interface SourceTree {
  readonly commit: string;
  /** Absolute directory holding the checkout, for tools that need files on disk. */
  readonly root: string;
  /** Every file under `dir` (repo-relative, `/`-separated, sorted). */
  list(dir: string): Promise<string[]>;
  /** File contents, or undefined when there is no such file. */
  read(path: string): Promise<string | undefined>;
}

export interface GitSource {
  /** The branch's current head on the remote (ls-remote), or undefined if the branch does not exist. */
  head(repoUrl: string, branch: string): Promise<string | undefined>;
  /** The tree at `commit`, fetched shallowly and cached on disk. */
  checkout(repoUrl: string, branch: string, commit: string): Promise<SourceTree>;
  /**
   * Paths that differ between two commits; `from` null means "everything in `to`".
   * Returns undefined when `from` is not known locally (history too shallow, force push):
   * callers then treat every app as changed.
   */
  changedPaths(
    repoUrl: string,
    branch: string,
    from: string | null,
    to: string,
  ): Promise<string[] | undefined>;
  /** True when `ancestor` is reachable from `descendant`; false when unknown. */
  isAncestor(repoUrl: string, branch: string, ancestor: string, descendant: string): Promise<boolean>;
}

export type RevertResult =
  | { readonly status: 'committed'; readonly commit: string; readonly branch: string }
  /** Newer commits changed the same files since the bad commit: nothing was written. */
  | { readonly status: 'conflict'; readonly paths: readonly string[]; readonly head: string }
  /** The bad commit's changes to these paths are already undone at the head. */
  | { readonly status: 'nothing-to-revert'; readonly head: string };

/** Writes to the config repository: the only way Sluice changes Git (rollback reverts). */
export interface GitWriter {
  /**
   * Reverts what `revertOf` (and any commit between `restoreTo` and it) changed under `paths`, and
   * only there: each such file goes back to its content at `restoreTo`. Commits on top of
   * `branch`'s head and pushes to `pushTo` (default `branch`), never forcing. A file that a newer
   * commit changed again after `revertOf` is a conflict, reported and not written.
   */
  revertPaths(input: {
    repoUrl: string;
    branch: string;
    revertOf: string;
    restoreTo: string;
    paths: readonly string[];
    message: string;
    pushTo?: string;
  }): Promise<RevertResult>;
}

/** Opens a pull request on the Git provider (rollback in review mode). */
export interface PullRequestOpener {
  openPullRequest(input: {
    repo: string;
    base: string;
    head: string;
    title: string;
    body: string;
  }): Promise<{ url: string; number: number }>;
}

export type CommitState = 'pending' | 'success' | 'failure' | 'error';

export interface GitProvider {
  /** Commit status per (app, target) context, e.g. `sluice/web@prod-use1`. */
  setStatus(input: {
    repo: string;
    commit: string;
    context: string;
    state: CommitState;
    description: string;
    url?: string;
  }): Promise<void>;
}

/** A repository webhook as the provider lists it; the secret is never part of it. */
export interface WebhookHook {
  /** The provider's id (a number for most, a `{uuid}` for Bitbucket), as a string. */
  readonly id: string;
  readonly url: string;
  readonly active: boolean;
  readonly events: readonly string[];
}

/** What Sluice asks a provider for: push deliveries to `url`, signed with `secret`. */
export interface WebhookHookInput {
  readonly url: string;
  readonly secret: string;
}

/** Manages a repository's webhooks on a Git provider (`sluice webhook`). */
export interface WebhookAdmin {
  /** The ingest path's provider name: github, gitlab, gitea, forgejo, bitbucket. */
  readonly provider: string;
  list(repo: string): Promise<WebhookHook[]>;
  create(repo: string, hook: WebhookHookInput): Promise<WebhookHook>;
  /** Points an existing hook at `url` with `secret`, active, for push events. */
  update(repo: string, id: string, hook: WebhookHookInput): Promise<WebhookHook>;
  delete(repo: string, id: string): Promise<void>;
}

/** Removed: the app left the target (gone from sluice.yaml or no longer selected) and its objects were deleted. */
export type DeploymentState = 'Pending' | 'Progressing' | 'Healthy' | 'Failed' | 'RolledBack' | 'Removed';

export interface BranchState {
  repo: string;
  branch: string;
  lastPlanned: string;
  generation: number;
  plannedAt: string;
  /**
   * Apps whose render or policy check failed in a release of this branch since the last plan
   * (written by the render stage, cleared by the next plan): that plan releases them again even
   * when its push does not touch them, so a failed app's change is never skipped.
   */
  failedApps?: readonly string[];
  /** Optimistic-concurrency token. */
  version: number;
}

export interface DeploymentRecord {
  app: string;
  target: string;
  repo: string;
  branch: string;
  commit: string;
  generation: number;
  digest: string;
  bundleKey: string;
  traceId: string;
  state: DeploymentState;
  reason?: string;
  /** Set while and after this generation re-deploys a known-good bundle: the commit rolled back. */
  rollbackOf?: string;
  /** Who signed `commit`, when the plan verified it. */
  commitSignature?: CommitSigner;
  updatedAt: string;
  history: {
    state: DeploymentState;
    at: string;
    commit: string;
    generation: number;
    reason?: string;
    /** What was deployed in this step (absent in records written before rollbacks existed). */
    digest?: string;
    bundleKey?: string;
    rollbackOf?: string;
    /** Who signed the commit (trust policy on), kept so a rollback re-deploys it attributed. */
    commitSignature?: CommitSigner;
  }[];
  lastKnownGood?: {
    commit: string;
    digest: string;
    bundleKey: string;
    generation: number;
    at: string;
    commitSignature?: CommitSigner;
  };
  version: number;
}

export interface DeploymentUpdate {
  app: string;
  target: string;
  repo: string;
  branch: string;
  commit: string;
  generation: number;
  digest: string;
  bundleKey: string;
  traceId: string;
  state: DeploymentState;
  reason?: string;
  /** The bad commit, when this update belongs to a rollback's re-dispatch. */
  rollbackOf?: string;
  /** Who signed `commit`, when the plan verified it (Apply Requested's commitSignature). */
  commitSignature?: CommitSigner;
  at: string;
}

/** A verified commit signature: the trust policy's signer name and the key's fingerprint. */
export interface CommitSigner {
  signer: string;
  fingerprint: string;
}

export interface Ledger {
  getBranch(repo: string, branch: string): Promise<BranchState | undefined>;
  /** Writes when the stored version equals `expectedVersion` (0 = absent); throws CONFLICT otherwise. */
  putBranch(state: Omit<BranchState, 'version'>, expectedVersion: number): Promise<BranchState>;
  /**
   * The record of `app` on `target` deployed from `repo`: one record per (repo, app, target), so
   * two repos with an app of the same name never share one. Without `repo`, the most recently
   * updated record of (app, target), whichever repo it came from.
   */
  getDeployment(app: string, target: string, repo?: string): Promise<DeploymentRecord | undefined>;
  /**
   * Records a state for (repo, app, target). An update for an older generation than the record's
   * is ignored (returns the record unchanged), so a late message can never move a target backwards.
   */
  recordDeployment(update: DeploymentUpdate): Promise<DeploymentRecord>;
  listDeployments(): Promise<DeploymentRecord[]>;
  getRollout?: RolloutLedger['getRollout'];
  putRollout?: RolloutLedger['putRollout'];
  listRollouts?: RolloutLedger['listRollouts'];
}

/** Where a rollout stands (docs/progressive-delivery.md). */
export type RolloutState = 'Progressing' | 'Baking' | 'AwaitingApproval' | 'Halted' | 'Completed';

/** One wave of a rollout: its targets (of this app), its gates, and where it stands. */
export interface RolloutWave {
  readonly name: string;
  readonly targets: readonly string[];
  readonly bakeSeconds: number;
  readonly approval: boolean;
  readonly maxParallel?: number;
  state: 'Waiting' | RolloutState;
  /** When its bake ends (ISO), once every target is Healthy. */
  bakeUntil?: string;
  startedAt?: string;
  healthyAt?: string;
  bakedAt?: string;
  approvedBy?: string;
}

/**
 * A progressive rollout of one app's commit from one (repo, branch), wave by wave: kept in the
 * ledger so a restart or a redelivered message resumes it where it was (shared/core/rollout.ts).
 */
export interface RolloutRecord {
  repo: string;
  branch: string;
  app: string;
  commit: string;
  generation: number;
  traceId: string;
  state: RolloutState;
  /** Index into `waves` of the wave in progress. */
  current: number;
  waves: RolloutWave[];
  /** The apply requests (unsigned) of targets not dispatched yet, by target name. */
  held: Record<string, ApplyRequestedLike>;
  /** Targets already handed to their agent. */
  dispatched: string[];
  /** Waves approved (`sluice approve`), possibly ahead of time. */
  approvals: Record<string, string>;
  /**
   * apps[].dependsOn: per app waited for, the generation it must be Healthy at on each target this
   * release also takes it to (a target not listed: any generation; no record there: no wait).
   */
  dependsOn?: Record<string, Record<string, number>>;
  /** Targets not applied because an app they depend on failed there, with why. */
  blocked?: Record<string, string>;
  /**
   * Per app depended on, the targets where its release of this generation never reached the
   * ledger — it failed to render, policy or the trust policy refused it — with why.
   */
  dependencyFailures?: Record<string, Record<string, string>>;
  reason?: string;
  updatedAt: string;
  version: number;
}

/**
 * A look at an app's health after the agent applied it and left, instead of waiting in the
 * function (docs/agent.md#health-re-checks): the request it applied, when the health clock
 * started, the deadline, and what the apply did (reported with the outcome).
 */
export interface HealthRecheck {
  readonly request: ApplyRequested;
  /** Epoch ms the health clock started (the apply's start), and how long health may take. */
  readonly since: number;
  readonly deadlineMs: number;
  /** 1 for the first re-check. */
  readonly attempt: number;
  readonly result: { readonly applied: number; readonly unchanged: number; readonly pruned: number };
  /** The key the agent verified the bundle's signature with, for attribution. */
  readonly bundleKey?: string;
}

/** Schedules a HealthRecheck (AWS: a delayed message on the region's health queue). */
export interface HealthRechecks {
  schedule(check: HealthRecheck, at: Date): Promise<void>;
}

/** An Apply Requested detail as JSON (kept opaque here: the ports do not validate events). */
export type ApplyRequestedLike = Readonly<Record<string, unknown>>;

/** The ledger's rollout records (optional: hosts without progressive delivery leave them out). */
export interface RolloutLedger {
  getRollout(repo: string, branch: string, app: string): Promise<RolloutRecord | undefined>;
  /** Writes when the stored version equals `expectedVersion` (0 = absent); throws CONFLICT otherwise. */
  putRollout(record: Omit<RolloutRecord, 'version'>, expectedVersion: number): Promise<RolloutRecord>;
  listRollouts(): Promise<RolloutRecord[]>;
  /**
   * The apps whose rollouts have waited on `app` (apps[].dependsOn), without listing every
   * rollout: a report asks on every outcome. Absent, callers filter listRollouts().
   */
  dependentsOf?(repo: string, branch: string, app: string): Promise<string[]>;
}

/** A rollout to look at again: its bake may be over, a target may have reported, a wave approved. */
export interface RolloutWake {
  readonly repo: string;
  readonly branch: string;
  readonly app: string;
  readonly generation: number;
}

/**
 * Schedules a wake-up of a rollout at a time: nothing runs (no process or function sleeps) until
 * then. Local: a file in the workdir read by a bounded timer loop; AWS: a delayed message.
 */
export interface RolloutTimer {
  schedule(wake: RolloutWake, at: Date): Promise<void>;
}

/**
 * Hands pushes straight to the planner's FIFO queue, one message group per repo+branch
 * (`planGroupId`), deduplicated by `deduplicationId` (the delivery). EventBridge can only give a
 * FIFO target one static group, so ingest sends to the plan queue itself (docs/deploy.md).
 */
export interface PlanIntake {
  submit(pushes: readonly { detail: CommitPushed; deduplicationId: string }[]): Promise<void>;
}

/** A queue message as a consumer received it (an SQS record has this shape). */
export interface ReceivedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly receiptHandle: string;
  /** The queue it came from (an ARN, or the local queue's name after the last `:`). */
  readonly eventSourceARN: string;
  /** FIFO queues: the message's group, which its dead-letter queue keeps. */
  readonly attributes?: { readonly MessageGroupId?: string };
}

/**
 * Where a message that can never succeed goes at once, with its reason: the dead-letter queue of
 * the queue it came from. Every queue-fed host has one, so poison is parked the same way everywhere.
 */
export interface DeadLetters {
  park(message: ReceivedMessage, reason: string): Promise<void>;
}

/** Sends work to the agent of a target's region. */
export interface AgentDispatcher {
  send(target: TargetRef, message: { body: string; dedupId: string }): Promise<void>;
  /**
   * Several hand-offs at once (dispatch's chunks): as many `send`s, batched where the transport
   * allows (SQS SendMessageBatch of 10 per agent queue). Absent, callers send one by one.
   */
  sendMany?(messages: readonly AgentMessage[]): Promise<void>;
}

/** One hand-off to a target's agent: the Apply Requested (or removal) body and its dedup id. */
export interface AgentMessage {
  readonly target: TargetRef;
  readonly body: string;
  readonly dedupId: string;
}

/**
 * Dispatch's own work queue (AWS: the dispatch queue): a bundle for more targets than one
 * invocation should hand over is split into chunks, each sent here as its own message, so each
 * chunk is one invocation and a crashed one is redelivered alone (shared/core/dispatch.ts).
 */
export interface DispatchChunkQueue {
  send(chunks: readonly DispatchChunk[]): Promise<void>;
}

/** A chunk of one Bundle Verified: the event with only this chunk's targets, and its place. */
export interface DispatchChunk {
  readonly verified: BundleVerifiedLike;
  /** 0-based index of this chunk, of `count`, over `total` targets of the bundle. */
  readonly index: number;
  readonly count: number;
  readonly total: number;
}

/** A Bundle Verified detail as JSON (opaque here, as ApplyRequestedLike: validated where parsed). */
export type BundleVerifiedLike = Readonly<Record<string, unknown>> & { readonly traceId: string };

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** What an agent remembers inside the cluster about an app: the source of its stale-work check. */
export interface Inventory {
  app: string;
  generation: number;
  commit: string;
  digest: string;
  objects: string[];
  appliedAt: string;
  /** Where the applied bundle came from: lets a drift check re-read it and report against it. */
  source?: InventorySource;
  /** What the applied objects' attribution annotations say (shared/core/attribution.ts). */
  attribution?: Attribution;
}

/** The release an applied object is attributed to: annotations `sluice.dev/commit`, `bundle-digest`, `signed-by`. */
export interface Attribution {
  commit: string;
  digest: string;
  commitSignature?: CommitSigner;
}

export interface InventorySource {
  repo: string;
  branch: string;
  traceId: string;
  bundleKey: string;
  sync: { prune: boolean; selfHeal: boolean };
}

/** An object as the cluster holds it: the applied fields plus what the server and controllers add. */
export interface LiveObject extends KubeObject {
  metadata: KubeObject['metadata'] & {
    generation?: number;
    resourceVersion?: string;
    uid?: string;
    managedFields?: { manager?: string; operation?: string; fieldsV1?: unknown; subresource?: string }[];
  };
  status?: Record<string, unknown>;
}

export interface ApplyOptions {
  prune: boolean;
  inventory: Omit<Inventory, 'objects' | 'appliedAt'>;
  /** Take fields another field manager owns (the app opted in, or self-heal). Default false: conflicts fail. */
  force?: boolean;
  /**
   * The app leaves the target: `objects` is empty, every object of its inventory that carries its
   * ownership labels is deleted (no prune-share guard: the removal is the intent), and the
   * inventory is kept as a tombstone (no objects, no source) so older deliveries stay refused.
   */
  remove?: boolean;
  /** Called after each wave (`sluice.dev/wave`) but the last, with its objects: the next wave waits for it. */
  afterWave?: (objects: readonly KubeObject[]) => Promise<void>;
}

export interface ApplyResult {
  applied: number;
  unchanged: number;
  pruned: number;
}

export interface ClusterClient {
  readInventory(app: string): Promise<Inventory | undefined>;
  /** Every app this target holds an inventory for (scheduled drift checks). */
  listInventories(): Promise<Inventory[]>;
  /** Applies objects, prunes the app's objects that left the set (when asked), then records the inventory. */
  apply(app: string, objects: readonly KubeObject[], options: ApplyOptions): Promise<ApplyResult>;
  /**
   * The live objects (undefined where absent), for health. Null when the target has no live
   * state to observe (a directory): it is healthy as soon as it is written.
   */
  readLive(objects: readonly KubeObject[]): Promise<(LiveObject | undefined)[] | null>;
  /**
   * What each object would look like if the app's objects were applied again (a server-side dry
   * run that takes back Sluice's fields), beside the live object, for drift. Null when the target
   * cannot drift (a directory).
   */
  previewApply(
    app: string,
    objects: readonly KubeObject[],
  ): Promise<{ live: LiveObject | undefined; desired: LiveObject }[] | null>;
}

/** What a render tool returned: its stdout, or why it failed in its own words. */
export type ToolResult =
  | { readonly ok: true; readonly stdout: string }
  | {
      readonly ok: false;
      /** `failed`: non-zero exit; `timeout`: killed after the time bound; `refused`: input reads outside the repo. */
      readonly reason: 'failed' | 'timeout' | 'refused';
      /** The tool's own stderr (or the refusal), trimmed. */
      readonly message: string;
      /** How to fix it, when the renderer knows better than the generic fix for `reason`. */
      readonly fix?: string;
    };

/** Runs the real manifest tools (kubectl kustomize, helm template) over a checkout on disk. */
export interface ManifestRenderer {
  /** e.g. `kubectl v1.34.5, kustomize v5.7.1, helm v4.1.4`: part of every render cache key. */
  versions(): Promise<string>;
  /**
   * `kubectl kustomize DIR` with root-only load restriction. `inputs` are the repo-relative
   * directories the build reads; a symlink in them that leaves `root` is refused.
   */
  kustomize(request: { root: string; dir: string; inputs: readonly string[] }): Promise<ToolResult>;
  /**
   * `helm template` of a chart directory in the checkout, or of `repo`/`name`@`version`: that
   * archive is fetched once, checked against `digest` and cached by it, then rendered offline.
   */
  helmTemplate(request: {
    root: string;
    /** Repo-relative chart directory; absent for a repository chart. */
    chart?: string;
    repo?: { url: string; name: string; version: string; digest?: string };
    releaseName: string;
    namespace?: string;
    /** Repo-relative values files, in layering order. */
    valueFiles: readonly string[];
    /** Values layered over every values file (sluice.yaml's values, `sluice.target.*`). */
    values: Readonly<Record<string, unknown>>;
    includeCrds: boolean;
    inputs: readonly string[];
  }): Promise<ToolResult>;
}

/** Rendered output by cache key; entries are immutable, so a lost race writes the same bytes. */
export interface RenderCache {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, content: Uint8Array): Promise<void>;
}

/** One kind the API server serves: its schema definition, REST resource and scope. */
export interface KubeKindInfo {
  readonly schema: string;
  readonly resource: string;
  readonly namespaced: boolean;
}

/** The OpenAPI schemas of one Kubernetes minor version, as vendored by scripts/schemas/build.ts. */
export interface KubeSchemas {
  /** e.g. `1.34`. */
  readonly version: string;
  /** By `apiVersion/Kind`, e.g. `apps/v1/Deployment`. */
  readonly kinds: Readonly<Record<string, KubeKindInfo>>;
  /** OpenAPI schema objects by definition name; `$ref` holds a definition name. */
  readonly definitions: Readonly<Record<string, unknown>>;
}

/** Where schema validation gets the Kubernetes OpenAPI schemas from (offline, vendored). */
export interface KubeSchemaSource {
  /** The schemas of a minor version (`1.34`), or undefined when none are vendored for it. */
  load(version: string): Promise<KubeSchemas | undefined>;
}
