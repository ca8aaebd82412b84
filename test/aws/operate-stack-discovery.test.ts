/**
 * Stack discovery for `sluice … --aws` (shared/adapters/aws/stack-discovery.ts): the outputs of a
 * CloudFormation stack read with DescribeStacks, on an emulator that deploys CloudFormation
 * (ministack; LocalStack's free edition does not). The stack here is a small one with the management
 * stack's output names, so the suite stays quick; the CLI runs as a user runs it.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../shared/adapters/aws/client-config.ts';
import { describeStack } from '../../shared/adapters/aws/stack-discovery.ts';
import type { AwsSettings } from '../../shared/config/env.ts';
import { startLambdaEmulator } from '../support/emulator-deploy.ts';
import { waitFor } from '../support/wait.ts';
import { uniqueName } from './support.ts';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/sluice.mjs');

/** The management stack's output names over one queue + DLQ and a bucket. */
const template = (bus: string) =>
  JSON.stringify({
    Resources: {
      Bundles: { Type: 'AWS::S3::Bucket' },
      RecordDlq: { Type: 'AWS::SQS::Queue' },
      Record: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['RecordDlq', 'Arn'] }, maxReceiveCount: 5 },
        },
      },
    },
    Outputs: {
      BusName: { Value: bus },
      BundleBucket: { Value: { Ref: 'Bundles' } },
      RecordQueueUrl: { Value: { Ref: 'Record' } },
      RecordDlqUrl: { Value: { Ref: 'RecordDlq' } },
    },
  });

describe('stack discovery from CloudFormation outputs', () => {
  let aws: AwsSettings & { endpoint: string };
  let stop: () => Promise<void>;
  const stack = uniqueName('SluiceOperate');

  beforeAll(async () => {
    ({ aws, stop } = await startLambdaEmulator());
    const cfn = new CloudFormationClient(clientConfig(aws));
    await cfn.send(new CreateStackCommand({ StackName: stack, TemplateBody: template('sluice') }));
    await waitFor(
      `stack ${stack} to deploy`,
      async () => {
        const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
        const status = Stacks?.[0]?.StackStatus ?? '';
        if (/FAILED|ROLLBACK/.test(status)) throw new Error(`stack ${stack}: ${status}`);
        return status === 'CREATE_COMPLETE' ? true : undefined;
      },
      90_000,
      500,
    );
  }, 180_000);

  afterAll(async () => {
    await stop?.();
  }, 60_000);

  it('finds the bus, the bucket and each queue with its DLQ by the outputs’ names', async () => {
    // GIVEN a deployed stack WHEN its resources are discovered
    const found = await describeStack(new CloudFormationClient(clientConfig(aws)), stack);
    // THEN the outputs land where the CLI looks for them
    expect(found.bus).toBe('sluice');
    expect(found.bucket).toMatch(/\S/);
    expect(found.queues.record).toMatch(/^http/);
    expect(found.deadLetterQueues.record).toMatch(/^http/);
  });

  it('runs sluice redrive --aws --stack against it, and names a missing stack with the fix', async () => {
    const env = { ...process.env, AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: aws.region };
    // WHEN the CLI lists the dead letters of the stack by name
    const { stdout } = await run(process.execPath, [BIN, 'redrive', '--aws', '--stack', stack, '--list'], {
      env,
    });
    // THEN it found the record DLQ through DescribeStacks
    expect(stdout).toContain('record: 0 dead-lettered');
    // AND a stack that does not exist is refused with the flag to fix
    const missing = await run(process.execPath, [BIN, 'status', '--aws', '--stack', 'NoSuchStack'], {
      env,
    }).then(
      () => '',
      (error: { stderr: string }) => error.stderr,
    );
    expect(missing).toMatch(
      /--stack NoSuchStack: is not a CloudFormation stack .* Fix: pass the management stack name/,
    );
  });
});
