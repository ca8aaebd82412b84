/**
 * Where `sluice status|trace|rollback|redrive` read and write: the workdir of a local `sluice dev`,
 * or (`--aws`) a deployed management stack with the caller's AWS credentials. Only the adapters
 * differ; the commands print the same way for both.
 */
import path from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { clientConfig, s3ClientConfig } from '../shared/adapters/aws/client-config.ts';
import { EventBridgeBus } from '../shared/adapters/aws/eventbridge-bus.ts';
import { S3EventRecord } from '../shared/adapters/aws/s3-event-record.ts';
import { S3Ledger } from '../shared/adapters/aws/s3-ledger.ts';
import {
  DEFAULT_STACK_NAME,
  describeStack,
  readOutputsFile,
  type StackResources,
} from '../shared/adapters/aws/stack-discovery.ts';
import { FileHistory } from '../shared/adapters/local/history.ts';
import { FileLedger } from '../shared/adapters/local/ledger.ts';
import { type AwsSettings, readAwsSettings } from '../shared/config/env.ts';
import type { EventBus, History, Ledger } from '../shared/ports/index.ts';
import { workdirPaths } from './runtime/local-pipeline.ts';

export const DEFAULT_WORKDIR = '.sluice';

export interface TargetFlags {
  readonly workdir: string;
  readonly aws?: boolean;
  readonly stack?: string;
  readonly region?: string;
  readonly profile?: string;
  readonly outputsFile?: string;
}

/** The flags that choose between a local `sluice dev` and a deployed stack. */
export const targetOptions = (command: Command): Command =>
  command
    .option('--workdir <dir>', 'the working directory of `sluice dev`', DEFAULT_WORKDIR)
    .option('--aws', 'a deployed management stack, with your AWS credentials, instead of `sluice dev`')
    .option('--stack <name>', `the management stack's name (with --aws)`, DEFAULT_STACK_NAME)
    .option('--region <region>', 'its region (with --aws; default AWS_REGION)')
    .option('--profile <name>', 'the AWS profile to use (with --aws; default the usual credential chain)')
    .option(
      '--outputs-file <file>',
      'read the stack outputs from this `cdk deploy --outputs-file` JSON (or `sluice dev --aws`’s state/aws-outputs.json) instead of DescribeStacks',
    );

export interface AwsAccess {
  readonly settings: AwsSettings;
  readonly resources: StackResources;
  readonly config: { region: string; endpoint?: string; profile?: string };
}

/** Finds the stack's resources: from the outputs file when given, else DescribeStacks. */
export const openAws = async (flags: TargetFlags): Promise<AwsAccess> => {
  const settings = readAwsSettings(flags.region ? { ...process.env, AWS_REGION: flags.region } : process.env);
  const config = { ...clientConfig(settings), ...(flags.profile ? { profile: flags.profile } : {}) };
  const resources = flags.outputsFile
    ? await readOutputsFile(path.resolve(flags.outputsFile), flags.stack)
    : await describeStack(new CloudFormationClient(config), flags.stack ?? DEFAULT_STACK_NAME);
  return { settings, resources, config };
};

export const sqsClient = (access: AwsAccess) => new SQSClient(access.config);

export interface Reader {
  readonly ledger: Ledger;
  readonly history: History;
  /** For messages: the workdir or the stack. */
  readonly where: string;
}

/** The ledger and the record: the workdir's files, or the stack's bucket. */
export const openReader = async (flags: TargetFlags): Promise<Reader> => {
  if (!flags.aws) {
    const paths = workdirPaths(path.resolve(flags.workdir));
    return {
      ledger: new FileLedger(paths.ledger),
      history: new FileHistory(paths.events),
      where: flags.workdir,
    };
  }
  return readerFor(await openAws(flags));
};

export const readerFor = (access: AwsAccess): Reader => {
  const s3 = new S3Client({ ...s3ClientConfig(access.settings), ...access.config });
  return {
    ledger: new S3Ledger({ bucket: access.resources.bucket, client: s3 }),
    history: new S3EventRecord({ bucket: access.resources.bucket, client: s3 }),
    where: access.resources.source,
  };
};

/** The stack's bus, for `sluice rollback --aws`: PutEvents with the caller's credentials. */
export const awsBus = (access: AwsAccess): EventBus =>
  new EventBridgeBus({ busName: access.resources.bus, client: new EventBridgeClient(access.config) });
