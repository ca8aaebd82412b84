/**
 * What each queue-fed stage does with a record: parse it, run its core, count what it did. The
 * composition root (pipeline.ts) turns each into a handler with the same middlewares everywhere.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import { type AgentDeps, applyRequested, recheckHealth } from '../core/agent.ts';
import { ALARM_SOURCE, type AlarmStateChange, parseAlarmEvent } from '../core/alarms.ts';
import { type DispatchDeps, dispatchBundle, dispatchChunk } from '../core/dispatch.ts';
import { driftCheckRequested } from '../core/drift.ts';
import { type PlanDeps, planCommit } from '../core/plan.ts';
import { type RenderDeps, renderRelease } from '../core/release.ts';
import { dispatchRemoval, removeRequested } from '../core/removal.ts';
import { type ReportDeps, recordOutcome, recordRemoval } from '../core/report.ts';
import {
  executeRollback,
  type RollbackDeps,
  rollbackForFailure,
  rollbacksForAlarm,
} from '../core/rollback.ts';
import { BadInputError, isSluiceError } from '../errors.ts';
import type { HealthRecheck } from '../ports/index.ts';
import {
  DISPATCH_CHUNK_KIND,
  type DispatchChunkMessage,
  dispatchChunk as dispatchChunkSchema,
} from '../schemas/dispatch-chunk.ts';
import {
  applyRequested as applyRequestedSchema,
  type BundleVerified,
  type DeploymentFailed,
  type DeploymentRemoved,
  type DeploymentSucceeded,
  driftCheckRequested as driftCheckRequestedSchema,
  envelopeSchema,
  type OutboundEvent,
  type RemovalRequested,
  type RollbackRequested,
  removalRequested as removalRequestedSchema,
} from '../schemas/events.ts';
import { healthRecheck, isHealthRecheckBody } from '../schemas/health-recheck.ts';
import { busEvent, parseDetail, type SqsRuntime, type SqsStage } from './sqs-handler.ts';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];
type Count = (name: string, value?: number, unit?: Unit) => void;
const counter =
  (runtime: SqsRuntime): Count =>
  (name, value = 1, unit = MetricUnit.Count) =>
    runtime.metrics.addMetric(name, unit, value);

/** Counts what a stage published: releases, renders, applies and their failures, apply durations. */
const countEvents = (count: Count, events: readonly OutboundEvent[]) => {
  for (const event of events) {
    switch (event.detailType) {
      case 'Release Planned':
        count('ReleasesPlanned');
        break;
      case 'Bundle Verified':
        count('BundlesRendered');
        break;
      case 'Policy Rejected':
        count('PolicyRejections');
        break;
      case 'Render Failed':
        count('RenderFailures');
        break;
      case 'Deployment Succeeded':
        count('Applies');
        count('ApplyDuration', event.detail.durationMs, MetricUnit.Milliseconds);
        break;
      case 'Deployment Failed':
        count('ApplyFailures');
        break;
      default:
        break;
    }
  }
};

/** Plan, from the FIFO plan queue (group = repo+branch): Commit Pushed → Release Planned | Skipped. */
export const planStage = (deps: PlanDeps, runtime: SqsRuntime): SqsStage<ReturnType<typeof planParse>> => {
  const count = counter(runtime);
  return {
    name: 'plan',
    fifo: true,
    parse: planParse,
    process: async ({ detail }) => {
      const outcome = await planCommit(deps, detail);
      if (outcome.kind === 'planned') count('ReleasesPlanned');
    },
  };
};
const planParse = busEvent('Commit Pushed');

/** Render, from the render queue: Release Planned → Bundle Verified | Policy Rejected | Render Failed. */
export const renderStage = (
  deps: RenderDeps,
  runtime: SqsRuntime,
): SqsStage<ReturnType<typeof renderParse>> => {
  const count = counter(runtime);
  return {
    name: 'render',
    parse: renderParse,
    process: async ({ detail }) => {
      const started = performance.now();
      countEvents(count, await renderRelease(deps, detail));
      count('RenderDuration', performance.now() - started, MetricUnit.Milliseconds);
    },
  };
};
const renderParse = busEvent('Release Planned');

/**
 * Dispatch, from the dispatch queue: Bundle Verified → ledger Pending + Apply Requested per target;
 * a bundle for many targets → one Dispatch Chunk message per chunk, each handed over on its own.
 */
export const dispatchStage = (
  deps: DispatchDeps,
  runtime: SqsRuntime,
): SqsStage<ReturnType<typeof dispatchParse>> => {
  const count = counter(runtime);
  return {
    name: 'dispatch',
    parse: dispatchParse,
    process: async (event) => {
      if (event.detailType === DISPATCH_CHUNK_KIND) {
        count('ApplyRequests', (await dispatchChunk(deps, event.detail as DispatchChunkMessage)).length);
        return;
      }
      if (event.detailType === 'Removal Requested') {
        if (await dispatchRemoval(deps, event.detail as RemovalRequested)) count('RemovalRequests');
        return;
      }
      count('ApplyRequests', (await dispatchBundle(deps, event.detail as BundleVerified)).length);
    },
  };
};
const dispatchBusEvent = busEvent('Bundle Verified', 'Removal Requested');
/** A chunk dispatch sent itself (`{ kind: "Dispatch Chunk", chunk }`), else an EventBridge event. */
const dispatchParse = (record: SQSRecord) => {
  const body = safeJson(record.body) as { kind?: unknown; chunk?: unknown } | undefined;
  if (body && typeof body === 'object' && body.kind === DISPATCH_CHUNK_KIND) {
    const chunk = parseDetail(dispatchChunkSchema, body.chunk, record.messageId);
    // The chunk's traceId is its bundle's: the record's log lines carry it as correlation id.
    return {
      detailType: DISPATCH_CHUNK_KIND,
      detail: { ...chunk, traceId: chunk.verified.traceId },
    } as const;
  }
  return dispatchBusEvent(record);
};

/** Report, from the report queue: agent outcomes → ledger (last known good) and commit status. */
export const reportStage = (
  deps: ReportDeps,
  runtime: SqsRuntime,
): SqsStage<ReturnType<typeof reportParse>> => ({
  name: 'report',
  parse: reportParse,
  process: async (event) => {
    if (event.detailType === 'Deployment Removed') {
      await recordRemoval(deps, event.detail as DeploymentRemoved, event.origin);
      counter(runtime)('DeploymentsRemoved');
      return;
    }
    await recordOutcome(
      deps,
      event.detailType === 'Deployment Succeeded'
        ? { kind: 'succeeded', detail: event.detail as DeploymentSucceeded }
        : { kind: 'failed', detail: event.detail as DeploymentFailed },
      event.origin,
    );
    // Every region's accepted outcome, counted in the management account (the agents' own metrics
    // stay in theirs): the deployments-failed alarm and the dashboard read these.
    counter(runtime)(
      event.detailType === 'Deployment Succeeded' ? 'DeploymentsSucceeded' : 'DeploymentsFailed',
    );
  },
});
const reportParse = busEvent('Deployment Succeeded', 'Deployment Failed', 'Deployment Removed');

type AgentMessage =
  | { kind: 'drift'; request: ReturnType<typeof driftCheckRequestedSchema.parse> }
  | { kind: 'apply'; request: ReturnType<typeof applyRequestedSchema.parse> }
  | { kind: 'recheck'; check: HealthRecheck }
  | { kind: 'remove'; request: RemovalRequested };

/**
 * The agent, from a region's agent queue: Apply Requested details from dispatch, and Drift Check
 * Requested from the region's schedule; from its health queue, the re-checks it scheduled itself.
 * A drift check reports each app it could not check and still succeeds: the next scheduled check
 * tries again, and a retry would re-report the others.
 */
export const agentStage = (deps: AgentDeps, runtime: SqsRuntime): SqsStage<AgentMessage> => {
  const count = counter(runtime);
  return {
    name: 'agent',
    parse: (record) => {
      const body = safeJson(record.body);
      const drift = driftCheckRequestedSchema.safeParse(body);
      if (drift.success) return { kind: 'drift', request: drift.data };
      if (isHealthRecheckBody(body)) {
        const { kind: _kind, ...check } = parseDetail(healthRecheck, body, record.messageId);
        return { kind: 'recheck', check };
      }
      // A removal carries no bundle; an Apply Requested always does.
      const removal = body && typeof body === 'object' && !('bundle' in body);
      return removal
        ? { kind: 'remove', request: parseDetail(removalRequestedSchema, body, record.messageId) }
        : { kind: 'apply', request: parseDetail(applyRequestedSchema, body, record.messageId) };
    },
    process: async (message, _record, logger) => {
      if (message.kind === 'apply') {
        const outcome = await applyRequested(deps, message.request);
        countEvents(count, outcome ? [outcome] : []);
        return;
      }
      if (message.kind === 'recheck') {
        const { rechecks } = deps;
        if (!rechecks) {
          throw new BadInputError(
            `message ${_record.messageId}`,
            'is a health re-check but this agent schedules none',
            'point only a Lambda agent with SLUICE_HEALTH_QUEUE_URL at its health queue',
          );
        }
        const outcome = await recheckHealth({ ...deps, rechecks }, message.check);
        countEvents(count, outcome ? [outcome] : []);
        return;
      }
      if (message.kind === 'remove') {
        countEvents(count, [await removeRequested(deps, message.request)]);
        return;
      }
      for (const failed of await driftCheckRequested(deps, message.request)) {
        if (!failed.error) continue;
        logger.warn('drift check failed', {
          app: failed.app,
          target: failed.target,
          code: isSluiceError(failed.error) ? failed.error.code : 'UNEXPECTED',
          error: failed.error.message,
        });
      }
    },
  };
};

const safeJson = (body: string): unknown => {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
};

type RollbackTrigger =
  | { kind: 'alarm'; alarm: AlarmStateChange }
  | ReturnType<ReturnType<typeof busEvent<'Rollback Requested' | 'Deployment Failed'>>>;

const sluiceRollbackEvent = busEvent('Rollback Requested', 'Deployment Failed');

/** CloudWatch alarm state changes (default bus) or Sluice's own events, told apart by source. */
const rollbackParse = (record: SQSRecord): RollbackTrigger => {
  const envelope = envelopeSchema.safeParse(safeJson(record.body));
  if (envelope.success && envelope.data.source === ALARM_SOURCE) {
    return { kind: 'alarm', alarm: parseAlarmEvent(envelope.data) };
  }
  if (!envelope.success) {
    throw new BadInputError(
      `message ${record.messageId}`,
      'body is not an EventBridge envelope',
      'check the rule target input',
    );
  }
  return sluiceRollbackEvent(record);
};

/** Rollback, from the rollback queue: every trigger becomes one Rollback Requested, carried out once. */
export const rollbackStage = (deps: RollbackDeps, _runtime: SqsRuntime): SqsStage<RollbackTrigger> => ({
  name: 'rollback',
  parse: rollbackParse,
  process: async (trigger) => {
    if ('kind' in trigger) await rollbacksForAlarm(deps, trigger.alarm);
    else if (trigger.detailType === 'Deployment Failed') {
      await rollbackForFailure(deps, trigger.detail as DeploymentFailed);
    } else {
      await executeRollback(deps, trigger.detail as RollbackRequested);
    }
  },
});
