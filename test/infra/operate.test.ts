import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, it } from 'vitest';
import { SLUICE_ENV } from '../../shared/config/env.ts';
import { buildTestApp } from './support.ts';

let template: Template;

beforeAll(() => {
  template = Template.fromStack(buildTestApp().management);
});

describe('ManagementStack: operating it (docs/operate.md)', () => {
  it('keeps every sluice event but the schedules’ requests on the record queue', () => {
    // GIVEN the management stack THEN one rule sends the whole source, schedules excepted, to sluice-record
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['sluice'],
        'detail-type': [{ 'anything-but': ['Reconcile Requested', 'Drift Check Requested'] }],
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'sluice-record' });
  });

  it('feeds Reconcile Requested to the reconcile function, which knows the configured repos', () => {
    // GIVEN the management stack THEN the schedule's event has a consumer
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['sluice'], 'detail-type': ['Reconcile Requested'] },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [SLUICE_ENV.repoUrls]: Match.anyValue(),
          POWERTOOLS_SERVICE_NAME: 'sluice-reconcile',
        }),
      },
    });
    // AND ingest may schedule a check there when it throttles a push
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [SLUICE_ENV.reconcileQueueUrl]: Match.anyValue(),
          POWERTOOLS_SERVICE_NAME: 'sluice-ingest',
        }),
      },
    });
  });

  it('names the bus, the bucket and every queue with its DLQ in the outputs the CLI discovers', () => {
    // GIVEN the management stack THEN `sluice status --aws` finds what it needs in the outputs
    for (const name of [
      'BusName',
      'BundleBucket',
      'RecordQueueUrl',
      'RecordDlqUrl',
      'ReconcileQueueUrl',
      'PlanDlqUrl',
    ]) {
      template.hasOutput(name, Match.anyValue());
    }
  });
});
