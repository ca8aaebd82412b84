import { z } from 'zod';
import { BadInputError } from '../errors.ts';
import type { AppConfig, FleetConfig } from '../schemas/config.ts';
import type { Envelope } from '../schemas/events.ts';

/** CloudWatch sends alarm state changes to the account's default bus with this source and type. */
export const ALARM_SOURCE = 'aws.cloudwatch';
export const ALARM_DETAIL_TYPE = 'CloudWatch Alarm State Change';

const alarmState = z.looseObject({
  value: z.string().min(1),
  reason: z.string().optional(),
  /** CloudWatch writes `2019-10-02T17:04:40.985+0000`. */
  timestamp: z.string().min(1),
});

/** The parts of the event's detail that Sluice reads; CloudWatch sends more (metrics, etc.). */
export const alarmStateChangeDetail = z.looseObject({
  alarmName: z.string().min(1),
  state: alarmState,
  previousState: alarmState.optional(),
  configuration: z.looseObject({ description: z.string().optional() }).optional(),
  /** Present when the alarm has tag propagation enabled. */
  alarmTags: z.record(z.string(), z.string()).optional(),
});

export interface AlarmStateChange {
  readonly name: string;
  readonly arn: string | undefined;
  readonly region: string | undefined;
  readonly state: string;
  readonly previousState: string | undefined;
  readonly reason: string;
  /** When the alarm entered its state. */
  readonly at: Date;
  readonly tags: Readonly<Record<string, string>>;
}

/** Reads a CloudWatch "Alarm State Change" envelope; anything else is bad input. */
export const parseAlarmEvent = (envelope: Envelope): AlarmStateChange => {
  if (envelope.source !== ALARM_SOURCE || envelope['detail-type'] !== ALARM_DETAIL_TYPE) {
    throw new BadInputError(
      `event ${envelope.id}`,
      `is ${envelope.source} "${envelope['detail-type']}", not ${ALARM_SOURCE} "${ALARM_DETAIL_TYPE}"`,
      'route only CloudWatch alarm state changes to the rollback queue',
    );
  }
  const parsed = alarmStateChangeDetail.safeParse(envelope.detail);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadInputError(
      `alarm event ${envelope.id}`,
      `detail.${issue?.path.join('.')} ${issue?.message}`,
      'send the event as CloudWatch emits it (detail.alarmName, detail.state.value, detail.state.timestamp)',
    );
  }
  const d = parsed.data;
  const at = new Date(d.state.timestamp);
  return {
    name: d.alarmName,
    arn: envelope.resources.find((r) => r.startsWith('arn:') && r.includes(':alarm:')),
    region: envelope.region,
    state: d.state.value,
    previousState: d.previousState?.value,
    reason: d.state.reason ?? '',
    at: Number.isNaN(at.getTime()) ? new Date(envelope.time) : at,
    tags: d.alarmTags ?? {},
  };
};

/** CloudWatch's own timestamp format: milliseconds and a `+0000` offset. */
const cloudWatchTime = (at: Date) => at.toISOString().replace('Z', '+0000');

export const alarmArn = (region: string, account: string, name: string) =>
  `arn:aws:cloudwatch:${region}:${account}:alarm:${name}`;

/**
 * A CloudWatch "Alarm State Change" event as EventBridge delivers it, for `sluice alarm` and
 * tests (shape from the CloudWatch user guide, "Alarm events and EventBridge").
 */
export const cloudWatchAlarmEvent = (input: {
  id: string;
  name: string;
  at: Date;
  state?: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA';
  previousState?: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA';
  reason?: string;
  region?: string;
  account?: string;
  tags?: Record<string, string>;
}): Envelope => {
  const region = input.region ?? 'us-east-1';
  const account = input.account ?? '000000000000';
  const state = input.state ?? 'ALARM';
  const previous = input.previousState ?? (state === 'ALARM' ? 'OK' : 'ALARM');
  const time = cloudWatchTime(input.at);
  return {
    version: '0',
    id: input.id,
    'detail-type': ALARM_DETAIL_TYPE,
    source: ALARM_SOURCE,
    account,
    time: `${input.at.toISOString().slice(0, 19)}Z`,
    region,
    resources: [alarmArn(region, account, input.name)],
    detail: {
      alarmName: input.name,
      ...(input.tags ? { alarmTags: input.tags, alarmTagsStatus: 'SUCCESS' } : {}),
      configuration: { description: `${input.name} (sent by sluice alarm)`, metrics: [] },
      previousState: {
        reason: `Threshold Crossed: state was ${previous}`,
        timestamp: time,
        value: previous,
      },
      state: {
        reason: input.reason ?? `Threshold Crossed: ${input.name} entered ${state}`,
        timestamp: time,
        value: state,
      },
    },
  };
};

export interface AlarmMatch {
  readonly app: AppConfig;
  /** Only this target; every target of the app when undefined. */
  readonly target: string | undefined;
  readonly by: 'name' | 'arn' | 'tag';
}

/** The apps (and targets) whose `alarms` in sluice.yaml name this alarm, by name, ARN or tag. */
export const matchAlarm = (config: FleetConfig, alarm: AlarmStateChange): AlarmMatch[] => {
  const matches: AlarmMatch[] = [];
  for (const app of config.apps) {
    for (const rule of app.alarms) {
      const by =
        rule.arn !== undefined && rule.arn === alarm.arn
          ? 'arn'
          : rule.name !== undefined && rule.name === alarm.name
            ? 'name'
            : rule.tag !== undefined && alarm.tags[rule.tag.key] === rule.tag.value
              ? 'tag'
              : undefined;
      if (by) matches.push({ app, target: rule.target, by });
    }
  }
  // An app matched without a target filter covers every target: drop its narrower matches.
  return matches.filter(
    (m) => m.target === undefined || !matches.some((o) => o.app === m.app && o.target === undefined),
  );
};
