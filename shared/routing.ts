import type { DetailType } from './schemas/events.ts';

/**
 * Which queue feeds which function: the one routing table for the EventBridge rules in infra/
 * and for the local runner. Every consumer has its own queue and dead-letter queue.
 */
export interface Route {
  readonly fn: 'plan' | 'render' | 'dispatch' | 'report';
  readonly queue: string;
  readonly fifo: boolean;
  readonly detailTypes: readonly DetailType[];
}

export const ROUTES: readonly Route[] = [
  // FIFO, grouped by repo+branch: one planner per branch at a time, pushes in order.
  { fn: 'plan', queue: 'sluice-plan.fifo', fifo: true, detailTypes: ['Commit Pushed'] },
  { fn: 'render', queue: 'sluice-render', fifo: false, detailTypes: ['Release Planned'] },
  {
    fn: 'dispatch',
    queue: 'sluice-dispatch',
    fifo: false,
    detailTypes: ['Bundle Verified', 'Removal Requested'],
  },
  {
    fn: 'report',
    queue: 'sluice-report',
    fifo: false,
    detailTypes: ['Deployment Succeeded', 'Deployment Failed', 'Deployment Removed'],
  },
];

/**
 * Every rollback trigger meets on one queue: `Rollback Requested` (`sluice rollback`, alarms once
 * mapped), `Deployment Failed` (apps with rollback.onFailed) from the `sluice` bus, and CloudWatch
 * alarm state changes from the account's default bus (source aws.cloudwatch).
 */
export const ROLLBACK_ROUTE = {
  fn: 'rollback',
  queue: 'sluice-rollback',
  fifo: false,
  detailTypes: ['Rollback Requested', 'Deployment Failed'] as readonly DetailType[],
  foreign: [{ source: 'aws.cloudwatch', detailType: 'CloudWatch Alarm State Change' }],
} as const;

/**
 * Where ingest finds the plan queue it sends Commit Pushed to (set by the management stack with the
 * send grant; see PlanIntake in shared/ports).
 */
export const PLAN_QUEUE_URL_ENV = 'SLUICE_PLAN_QUEUE_URL';

/** The plan queue's message group: every push to one branch of one repo, in order. */
export const planGroupId = (detail: { repo: string; branch: string }): string =>
  `${detail.repo}#${detail.branch}`;

/**
 * A region's agent queue: FIFO in every host, grouped per (target, app) (agentGroupId), so an agent
 * applies one delivery per app and target at a time and in order, everything else in parallel.
 */
export const agentQueueName = (region: string): string => `sluice-agent-${region}.fifo`;

/**
 * A region's health queue: standard (a FIFO queue cannot delay one message), where a Lambda agent
 * schedules its next look at a rollout's health instead of waiting; the same agent consumes it.
 */
export const healthQueueName = (region: string): string => `sluice-agent-${region}-health`;

export const MAX_RECEIVE_COUNT = 5;

/**
 * What the rollout queue takes from the bus (besides its own delayed wake-ups): Rollout Approved
 * from `sluice approve`, and the releases that never reach a target — Render Failed, Policy
 * Rejected, Release Rejected — which apps[].dependsOn waiters must hear about.
 */
export const ROLLOUT_EVENTS = [
  'Rollout Approved',
  'Render Failed',
  'Policy Rejected',
  'Release Rejected',
] as const satisfies readonly DetailType[];

/**
 * The record function's batches (its Lambda event source, and `sluice dev --aws`'s loop): a
 * release's events are written together, a few S3 writes instead of one per event and target,
 * at the price of history (trace, status) lagging the bus by up to the window.
 */
export const RECORD_BATCH = { size: 100, windowSeconds: 5 } as const;
