import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALERTS_TOPIC, METRICS_NAMESPACE, PIPELINE_METRICS } from '../../infra/constructs/alerting.ts';
import { buildTestApp, MANAGEMENT } from './support.ts';

let management: Template;
let regional: Template[];

beforeAll(() => {
  const app = buildTestApp();
  management = Template.fromStack(app.management);
  regional = app.regional.map((stack) => Template.fromStack(stack));
});

const alarmNamed = (template: Template, name: string) => {
  const [alarm] = Object.values(
    template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: name } }),
  );
  if (alarm === undefined) throw new Error(`no alarm named ${name}`);
  return alarm.Properties as Record<string, unknown>;
};

describe('Alerting', () => {
  it('gives every alarm of every stack an alarm action', () => {
    // GIVEN every synthesised stack
    let count = 0;
    for (const template of [management, ...regional]) {
      // THEN each AWS::CloudWatch::Alarm notifies someone when it fires
      for (const [id, alarm] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
        expect(alarm.Properties.AlarmActions, id).toEqual([expect.anything()]);
        count++;
      }
    }
    // AND there are alarms to check: one per queue and DLQ and 3 more in management, 2–3 per region
    expect(count).toBeGreaterThan(3 + 2 * regional.length);
  });

  it('subscribes the configured email, HTTPS endpoint and Slack channel to the management topic', () => {
    management.hasResourceProperties('AWS::SNS::Topic', { TopicName: ALERTS_TOPIC });
    management.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    management.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://events.pagerduty.com/integration/abc/enqueue',
    });
    management.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      SlackWorkspaceId: 'T0123ABCD',
      SlackChannelId: 'C0123ABCD',
      SnsTopicArns: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
    });
  });

  it('alarms on the age of the oldest message, ingest throttles, API 5xx and failed deployments', () => {
    expect(alarmNamed(management, 'sluice-render-queue-age-SluiceManagement')).toMatchObject({
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 900,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(alarmNamed(management, 'sluice-ingest-throttles-SluiceManagement')).toMatchObject({
      MetricName: 'Throttles',
      Namespace: 'AWS/Lambda',
    });
    expect(alarmNamed(management, 'sluice-api-5xx-SluiceManagement')).toMatchObject({
      MetricName: '5xx',
      Namespace: 'AWS/ApiGateway',
    });
    expect(alarmNamed(management, 'sluice-deployments-failed-SluiceManagement')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: PIPELINE_METRICS.deploymentsFailed.metricName,
      Dimensions: [{ Name: 'service', Value: PIPELINE_METRICS.deploymentsFailed.service }],
    });
  });

  it('keeps no per-function alarm, and one per queue only for age and parked messages', () => {
    // GIVEN the management stack's queues (consumer queues, their DLQs, the event-delivery DLQ)
    const queues = Object.values(management.findResources('AWS::SQS::Queue')).map(
      (q) => q.Properties.QueueName as string,
    );
    const dlqs = queues.filter((n) => /-dlq(\.fifo)?$/.test(n));
    const names = Object.values(management.findResources('AWS::CloudWatch::Alarm')).map(
      (a) => a.Properties.AlarmName as string,
    );
    // THEN each DLQ has a parked alarm, each consumer queue an age alarm, plus three more — and no
    // function has an Errors alarm (each alarm metric costs $0.10/month: docs/cost.md)
    expect(names.filter((n) => n.includes('-dlq-parked-'))).toHaveLength(dlqs.length);
    expect(names.filter((n) => n.includes('-queue-age-'))).toHaveLength(queues.length - dlqs.length);
    expect(names.filter((n) => !/-(dlq-parked|queue-age)-/.test(n)).sort()).toEqual(
      ['api-5xx', 'deployments-failed', 'ingest-throttles'].map((n) => `sluice-${n}-SluiceManagement`),
    );
    expect(names.some((n) => n.includes('errors'))).toBe(false);
  });

  it('builds a dashboard of queues, functions, the API and deployments in the management stack', () => {
    const [dashboard] = Object.values(management.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboard?.Properties.DashboardName).toBe('SluiceManagement');
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const title of [
      'Deployments',
      'Webhook API',
      'Queues: oldest message',
      'Dead-letter queues',
      'Functions: errors',
    ]) {
      expect(body).toContain(title);
    }
    for (const regionalStack of regional) regionalStack.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
  });

  it('notifies the management topic directly from a regional stack in the management account/region', () => {
    // GIVEN the regional stack sharing the management account/region THEN its alarms name that topic
    const [same] = regional;
    same!.resourceCountIs('AWS::SNS::Topic', 0);
    same!.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ 'Fn::Join': ['', Match.arrayWith([`:sns:us-east-1:${MANAGEMENT}:${ALERTS_TOPIC}`])] }],
    });
  });

  it('relays the sluice-* alarms other regions forward to the management topic', () => {
    // GIVEN regional stacks elsewhere, whose alarm actions are their own topic (actions cannot
    // cross regions) and whose alarm state changes are forwarded to the management bus
    regional[1]!.hasResourceProperties('AWS::SNS::Topic', { TopicName: ALERTS_TOPIC });
    // THEN a rule on the sluice bus sends those sluice-* alarms to the management topic
    management.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: { Ref: Match.stringLikeRegexp('^Bus') },
      EventPattern: {
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: { alarmName: [{ prefix: 'sluice-' }], state: { value: ['ALARM', 'OK'] } },
      },
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^AlertsTopic') } })],
    });
  });
});
