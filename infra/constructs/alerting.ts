import { Duration } from 'aws-cdk-lib';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ManagementConfig } from '../config.ts';
import { acceptFinding } from '../nag.ts';

/** The alerts topic's name in every stack: `sluice-alerts`. */
export const ALERTS_TOPIC = 'sluice-alerts';

/**
 * Pipeline metrics the functions emit as EMF (Powertools Metrics, namespace `Sluice`, dimension
 * `service` = `sluice-<stage>`; shared/runtime/stages.ts), by what the dashboard and alarms read.
 */
export const PIPELINE_METRICS = {
  releasesPlanned: { metricName: 'ReleasesPlanned', service: 'sluice-plan' },
  rendersFailed: { metricName: 'RenderFailures', service: 'sluice-render' },
  policyRejections: { metricName: 'PolicyRejections', service: 'sluice-render' },
  renderDuration: { metricName: 'RenderDuration', service: 'sluice-render' },
  // Counted by report, where every region's outcome arrives (the agents count theirs at home).
  deploymentsSucceeded: { metricName: 'DeploymentsSucceeded', service: 'sluice-report' },
  deploymentsFailed: { metricName: 'DeploymentsFailed', service: 'sluice-report' },
} as const;
export const METRICS_NAMESPACE = 'Sluice';

export const pipelineMetric = (
  which: keyof typeof PIPELINE_METRICS,
  props: cloudwatch.MetricOptions = {},
): cloudwatch.Metric =>
  new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: PIPELINE_METRICS[which].metricName,
    dimensionsMap: { service: PIPELINE_METRICS[which].service },
    statistic: 'Sum',
    period: Duration.minutes(5),
    ...props,
  });

export interface AlertsProps {
  /** An existing topic (the management topic, when a regional stack shares its account/region). */
  readonly topic?: sns.ITopic;
  /** Subscribers of a topic created here. @default none */
  readonly subscribers?: ManagementConfig['alerts'];
}

/**
 * Where every alarm of a stack goes: the `sluice-alerts` SNS topic. `alarm()` is the one way this
 * app creates an alarm, so no alarm can be left without an action.
 */
export class Alerts extends Construct {
  readonly topic: sns.ITopic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AlertsProps = {}) {
    super(scope, id);
    if (props.topic) {
      this.topic = props.topic;
      return;
    }
    const topic = new sns.Topic(this, 'Topic', {
      topicName: ALERTS_TOPIC,
      displayName: 'Sluice alerts',
      enforceSSL: true,
    });
    acceptFinding(
      topic,
      'SNS2',
      'Alarm notifications carry alarm names and states only, never a secret; CloudWatch and EventBridge cannot publish to a topic under the AWS-managed SNS key, and a customer key would cost $1/month idle (docs/cost.md)',
    );
    const subscribers = props.subscribers;
    for (const email of subscribers?.emails ?? [])
      topic.addSubscription(new subscriptions.EmailSubscription(email));
    for (const url of subscribers?.https ?? []) topic.addSubscription(new subscriptions.UrlSubscription(url));
    (subscribers?.slack ?? []).forEach((slack, i) => {
      new chatbot.SlackChannelConfiguration(this, `Slack${i}`, {
        slackChannelConfigurationName: `sluice-alerts-${slack.channelId}`,
        slackWorkspaceId: slack.workspaceId,
        slackChannelId: slack.channelId,
        notificationTopics: [topic],
        // Chatbot only relays notifications; no console actions from the channel.
        guardrailPolicies: [],
      });
    });
    this.topic = topic;
  }

  /** An alarm that notifies the topic when it enters ALARM and when it recovers. */
  alarm(scope: Construct, id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, id, props);
    const action = new actions.SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
    return alarm;
  }

  /**
   * An alarm per dead-letter queue when a message is parked in it (depth ≥ 1), named for the queue.
   * Not one metric-math alarm over all of them: CloudWatch bills a math alarm per metric it reads,
   * so it would cost the same, and the page would not say which queue (docs/cost.md).
   */
  parked(
    scope: Construct,
    name: (queue: string) => string,
    queues: Readonly<Record<string, sqs.IQueue>>,
  ): void {
    for (const [label, queue] of Object.entries(queues)) {
      this.alarm(scope, `${pascal(label)}DlqParkedAlarm`, {
        alarmName: name(label),
        alarmDescription: `Messages parked in the ${label} dead-letter queue; inspect and redrive them (docs/deploy.md)`,
        metric: queue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
  }

  /** An alarm per consumer queue when its oldest message has waited longer than `threshold`. */
  stuck(
    scope: Construct,
    name: (queue: string) => string,
    queues: Readonly<Record<string, sqs.IQueue>>,
    threshold: Duration = Duration.minutes(15),
  ): void {
    for (const [label, queue] of Object.entries(queues)) {
      this.alarm(scope, `${pascal(label)}QueueAgeAlarm`, {
        alarmName: name(label),
        alarmDescription: `A message has waited over ${threshold.toHumanString()} on the ${label} queue: its consumer is failing, throttled or stopped`,
        metric: queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: threshold.toSeconds(),
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
  }
}

const pascal = (label: string): string =>
  label.replace(/(^|[-_])([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
