/**
 * Finds a deployed management stack's resources from its CloudFormation outputs (the CfnOutputs
 * of infra/stacks/management-stack.ts): the bus, the bucket (bundles, ledger, history) and every
 * queue with its dead-letter queue. The CLI's `--aws` commands read them with DescribeStacks, or
 * from a `cdk deploy --outputs-file` JSON (which `sluice dev --aws` also writes for its resources).
 */
import { readFile } from 'node:fs/promises';
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { BadInputError, ConfigError } from '../../errors.ts';
import { translateAwsError } from './errors.ts';

export const DEFAULT_STACK_NAME = 'SluiceManagement';

export interface StackResources {
  /** Where the outputs came from, for messages. */
  readonly source: string;
  /** Name or ARN of the `sluice` bus. */
  readonly bus: string;
  readonly bucket: string;
  /** Queue URLs by consumer (plan, render, dispatch, report, rollback, record, reconcile). */
  readonly queues: Readonly<Record<string, string>>;
  /** Dead-letter queue URLs by the consumer they serve; `eventDelivery` holds EventBridge's failures. */
  readonly deadLetterQueues: Readonly<Record<string, string>>;
  /** The secret holding the seed of Sluice's commit-signing key (output `CommitSigningKeySecretArn`). */
  readonly commitSigningKey?: string;
}

const uncapitalise = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/** Reads the outputs `BusArn` (or `BusName`), `BundleBucket`, `<Name>QueueUrl` and `<Name>DlqUrl`. */
export const resourcesFromOutputs = (
  outputs: Readonly<Record<string, string>>,
  source: string,
): StackResources => {
  const bus = outputs.BusName ?? outputs.BusArn;
  const bucket = outputs.BundleBucket;
  if (!bus || !bucket) {
    throw new ConfigError(
      source,
      '',
      `has no ${bus ? 'BundleBucket' : 'BusArn'} output (found: ${Object.keys(outputs).join(', ') || 'none'})`,
      'name the management stack (--stack NAME, default SluiceManagement) or its `cdk deploy --outputs-file` JSON (--outputs-file FILE)',
    );
  }
  const queues: Record<string, string> = {};
  const deadLetterQueues: Record<string, string> = {};
  for (const [key, value] of Object.entries(outputs)) {
    const queue = /^(\w+)QueueUrl$/.exec(key);
    if (queue?.[1]) queues[uncapitalise(queue[1])] = value;
    const dlq = /^(\w+)DlqUrl$/.exec(key);
    if (dlq?.[1]) deadLetterQueues[uncapitalise(dlq[1])] = value;
  }
  const commitSigningKey = outputs.CommitSigningKeySecretArn;
  return { source, bus, bucket, queues, deadLetterQueues, ...(commitSigningKey ? { commitSigningKey } : {}) };
};

/** The stack's outputs through DescribeStacks, with the caller's credentials. */
export const describeStack = async (
  client: CloudFormationClient,
  stackName: string = DEFAULT_STACK_NAME,
): Promise<StackResources> => {
  let outputs: Record<string, string>;
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = Object.fromEntries(
      (Stacks?.[0]?.Outputs ?? []).flatMap((o) =>
        o.OutputKey && o.OutputValue ? [[o.OutputKey, o.OutputValue]] : [],
      ),
    );
  } catch (error) {
    // CloudFormation answers a missing stack with a 400 ValidationError "Stack with id X does not exist".
    if (/does not exist/.test((error as Error).message ?? '')) {
      throw new BadInputError(
        `--stack ${stackName}`,
        'is not a CloudFormation stack in this account and region',
        'pass the management stack name (management.stackName) with --stack, and its region with --region',
      );
    }
    throw translateAwsError(error, `stack ${stackName}`);
  }
  return resourcesFromOutputs(outputs, `stack ${stackName}`);
};

/**
 * A `cdk deploy --outputs-file` JSON: `{ "<stack>": { "<output>": "<value>" } }`. With several
 * stacks, the one named `stackName`, else the one that has a `BundleBucket`.
 */
export const readOutputsFile = async (file: string, stackName?: string): Promise<StackResources> => {
  let parsed: Record<string, Record<string, string>>;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, Record<string, string>>;
  } catch (error) {
    throw new BadInputError(
      `--outputs-file ${file}`,
      `cannot be read as JSON (${(error as Error).message})`,
      'pass the file `cdk deploy --outputs-file` wrote, or the state/aws-outputs.json of `sluice dev --aws`',
    );
  }
  const name =
    stackName && parsed[stackName]
      ? stackName
      : Object.keys(parsed).find((key) => typeof parsed[key]?.BundleBucket === 'string');
  return resourcesFromOutputs(parsed[name ?? ''] ?? {}, `${file}${name ? ` (${name})` : ''}`);
};
