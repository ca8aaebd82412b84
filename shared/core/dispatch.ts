import type {
  AgentDispatcher,
  AgentMessage,
  BundleSignature,
  BundleSigner,
  Clock,
  DispatchChunk,
  DispatchChunkQueue,
  EventBus,
  Ledger,
  RolloutTimer,
} from '../ports/index.ts';
import type { ApplyRequested, BundleVerified } from '../schemas/events.ts';
import { holdForRollout } from './rollout.ts';

/** Targets one dispatch invocation hands over at most: a bigger bundle is split into chunks. */
export const DISPATCH_CHUNK_TARGETS = 250;
/** Hand-offs batched together: SendMessageBatch and PutEvents take 10 entries. */
const SEND_BATCH = 10;
/** Batches of one chunk in flight at once (each reads and writes its targets' ledger records). */
const PARALLEL_BATCHES = 5;

export interface DispatchDeps {
  readonly ledger: Ledger;
  readonly agents: AgentDispatcher;
  readonly bus: EventBus;
  readonly clock: Clock;
  /** Signs every bundle handed to an agent, so agents can refuse one the pipeline did not send. */
  readonly signer?: BundleSigner;
  /** Progressive delivery: wakes a rollout whose apply requests dispatch held (shared/core/rollout.ts). */
  readonly timer?: RolloutTimer;
  /**
   * Where a bundle for more than `chunkTargets` targets is split to, one message per chunk (the
   * dispatch queue). Absent, one invocation hands over every target (in batches, in parallel).
   */
  readonly chunks?: DispatchChunkQueue;
  /** @default DISPATCH_CHUNK_TARGETS */
  readonly chunkTargets?: number;
}

/**
 * Hands a verified bundle to the agent of each of its targets. The ledger entry (Pending) comes
 * first; a target whose ledger already holds a newer generation of this repo's app is left alone
 * (generations are compared per (repo, app, target) only: another repo's never shadows it).
 *
 * A bundle for more targets than one invocation should hand over (`chunkTargets`) is split: each
 * chunk goes to the dispatch queue as its own message (`dispatchChunk` hands it over), so no
 * invocation's time grows with the fleet and a crashed chunk is redelivered alone. Returns the
 * requests this invocation handed over (none when it only split or held them).
 */
export const dispatchBundle = async (
  deps: DispatchDeps,
  verified: BundleVerified,
): Promise<ApplyRequested[]> => {
  // An app rolled out in waves: its requests wait in the rollout record for their wave.
  if (
    await holdForRollout(
      deps,
      verified,
      verified.targets.map((t) => unsent(deps, verified, t)),
    )
  )
    return [];
  const size = deps.chunkTargets ?? DISPATCH_CHUNK_TARGETS;
  if (!deps.chunks || verified.targets.length <= size) return handOver(deps, verified);
  // Targets of one region together: a chunk's hand-offs then batch into few agent queues.
  const targets = [...verified.targets].sort((a, b) =>
    a.region < b.region ? -1 : a.region > b.region ? 1 : 0,
  );
  const count = Math.ceil(targets.length / size);
  await deps.chunks.send(
    Array.from({ length: count }, (_, index) => ({
      verified: { ...verified, targets: targets.slice(index * size, (index + 1) * size) },
      index,
      count,
      total: targets.length,
    })),
  );
  return [];
};

/**
 * One chunk of a split bundle, from the dispatch queue: its targets handed over as an unsplit
 * bundle's are. Idempotent: a chunk delivered again (a crash, a redelivery) skips every target
 * whose agent already took its request and re-sends only those still Pending, under the same
 * deduplication ids, so nothing is sent twice and nothing is skipped.
 */
export const dispatchChunk = (deps: DispatchDeps, chunk: DispatchChunk & { verified: BundleVerified }) =>
  handOver(deps, chunk.verified);

const unsent = (
  deps: Pick<DispatchDeps, 'clock'>,
  verified: BundleVerified,
  target: BundleVerified['targets'][number],
): ApplyRequested => ({
  schemaVersion: 1,
  traceId: verified.traceId,
  repo: verified.repo,
  branch: verified.branch,
  commit: verified.commit,
  occurredAt: deps.clock.now().toISOString(),
  generation: verified.generation,
  app: verified.app,
  target,
  bundle: verified.bundle,
  sync: verified.sync,
  ...(verified.commitSignature ? { commitSignature: verified.commitSignature } : {}),
});

/**
 * Ledger Pending, then Apply Requested on the bus and to the agent, for each target, in batches
 * of SEND_BATCH with PARALLEL_BATCHES in flight. The bundle is signed once.
 */
const handOver = async (deps: DispatchDeps, verified: BundleVerified): Promise<ApplyRequested[]> => {
  const batches: BundleVerified['targets'][] = [];
  for (let i = 0; i < verified.targets.length; i += SEND_BATCH) {
    batches.push(verified.targets.slice(i, i + SEND_BATCH));
  }
  const sent: ApplyRequested[][] = [];
  const signing = { ...deps, ...(deps.signer ? { signer: signOnce(deps.signer) } : {}) };
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const index = next++;
      const due = (await Promise.all(batches[index]!.map((t) => pending(deps, verified, t)))).filter(
        (r): r is ApplyRequested => r !== undefined,
      );
      await requestApplies(signing, due);
      sent[index] = due;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_BATCHES, batches.length) }, worker));
  return sent.flat();
};

/**
 * The target's ledger record set to Pending and its request, or undefined when it must not be
 * sent: the record holds a newer generation, or this very release was already taken by its
 * agent (any state past Pending: a redelivered bundle or chunk). A Pending one is sent again: a
 * crash may have come between the ledger write and the send; the agent queue drops a duplicate.
 */
const pending = async (
  deps: DispatchDeps,
  verified: BundleVerified,
  target: BundleVerified['targets'][number],
): Promise<ApplyRequested | undefined> => {
  const current = await deps.ledger.getDeployment(verified.app, target.name, verified.repo);
  if (current && current.generation > verified.generation) return undefined;
  if (
    current &&
    current.generation === verified.generation &&
    current.digest === verified.bundle.digest &&
    current.state !== 'Pending'
  ) {
    return undefined;
  }
  const at = deps.clock.now().toISOString();
  await deps.ledger.recordDeployment({
    app: verified.app,
    target: target.name,
    repo: verified.repo,
    branch: verified.branch,
    commit: verified.commit,
    generation: verified.generation,
    digest: verified.bundle.digest,
    bundleKey: verified.bundle.key,
    traceId: verified.traceId,
    ...(verified.commitSignature ? { commitSignature: verified.commitSignature } : {}),
    state: 'Pending',
    at,
  });
  return { ...unsent(deps, verified, target), occurredAt: at };
};

/** A signer that signs each digest once (every target of a bundle carries the same signature). */
const signOnce = (signer: BundleSigner): BundleSigner => {
  const signatures = new Map<string, Promise<BundleSignature>>();
  return {
    sign: (digest) => {
      let signature = signatures.get(digest);
      if (signature === undefined) {
        signature = signer.sign(digest);
        signatures.set(digest, signature);
        signature.catch(() => signatures.delete(digest));
      }
      return signature;
    },
  };
};

/** The agent queue's deduplication id of a request: the same for every hand-off of one release. */
const dedupIdOf = (request: ApplyRequested): string =>
  // The repo too: generations are per repo, so two repos' apps of one name may share one.
  `${request.repo}:${request.app}:${request.target.name}:${request.generation}:${request.bundle.digest.slice(7, 23)}`;

/**
 * Hands Apply Requested to their targets' agents: signed, on the bus (one publish, batched by
 * the bus), then to the agents (one sendMany where the dispatcher has it).
 */
export const requestApplies = async (
  deps: Pick<DispatchDeps, 'agents' | 'bus' | 'signer'>,
  unsigned: readonly ApplyRequested[],
): Promise<void> => {
  if (unsigned.length === 0) return;
  const { signer } = deps;
  const requests: ApplyRequested[] = signer
    ? await Promise.all(
        unsigned.map(async (r) => ({
          ...r,
          bundle: { ...r.bundle, signature: await signer.sign(r.bundle.digest) },
        })),
      )
    : [...unsigned];
  // On the bus first, so `sluice trace` shows the hand-off before the agent's answer.
  await deps.bus.publish(requests.map((detail) => ({ detailType: 'Apply Requested' as const, detail })));
  const messages: AgentMessage[] = requests.map((r) => ({
    target: r.target,
    body: JSON.stringify(r),
    dedupId: dedupIdOf(r),
  }));
  if (deps.agents.sendMany) await deps.agents.sendMany(messages);
  else for (const m of messages) await deps.agents.send(m.target, { body: m.body, dedupId: m.dedupId });
};

/** Hands one Apply Requested to its target's agent; a rollback's re-dispatch goes the same way. */
export const requestApply = (
  deps: Pick<DispatchDeps, 'agents' | 'bus' | 'signer'>,
  unsigned: ApplyRequested,
): Promise<void> => requestApplies(deps, [unsigned]);
