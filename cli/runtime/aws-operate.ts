/**
 * `sluice dev --aws`'s resources in the shape `cdk deploy --outputs-file` writes for the management
 * stack (BusName, BundleBucket, <Name>QueueUrl, <Name>DlqUrl), so `sluice status|trace|rollback|
 * redrive --aws --outputs-file FILE` reads the emulator as it reads a deployed stack.
 */
import { writeFile } from 'node:fs/promises';
import type { AwsPipelineResources } from '../../shared/adapters/aws/pipeline-resources.ts';

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export const writeAwsOutputs = async (
  file: string,
  resources: AwsPipelineResources,
  extra: Readonly<Record<string, string>> = {},
): Promise<void> => {
  const outputs: Record<string, string> = {
    BusName: resources.busName,
    BundleBucket: resources.bucket,
    ...extra,
  };
  for (const [name, url] of Object.entries(resources.queues)) {
    const key = capitalise(name.replace(/\.fifo$/, ''));
    outputs[`${key}QueueUrl`] = url;
    const deadLetterUrl = resources.deadLetterQueues[url];
    if (deadLetterUrl) outputs[`${key}DlqUrl`] = deadLetterUrl;
  }
  await writeFile(file, `${JSON.stringify({ [resources.busName]: outputs }, null, 2)}\n`);
};
