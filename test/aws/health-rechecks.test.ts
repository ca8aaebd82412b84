/**
 * The Lambda agent's health re-checks on the emulator: the agent's next look at a rollout is a
 * delayed message on a standard queue (FIFO queues cannot delay one message), nothing is delivered
 * before it is due, and the agent function turns it into the app's outcome.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { directoryClusters } from '../../cli/runtime/host.ts';
import { SqsHealthRechecks } from '../../shared/adapters/aws/sqs-delayed.ts';
import { FileBundleStore } from '../../shared/adapters/local/bundle-store.ts';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { localContext } from '../../shared/adapters/local/event-source.ts';
import { MemorySecretStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { applyRequested } from '../../shared/core/agent.ts';
import { applyRequest, storeBundle } from '../k8s/harness.ts';
import { createAgentHandler } from '../support/agent-handler.ts';
import { aws, clients, receive, toRecord, uniqueName } from './support.ts';

const configMap = (name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'web' },
  data: { greeting: 'hello' },
});

describe('SqsHealthRechecks (agent → its health queue → agent)', () => {
  it('delivers a re-check only when it is due, and the agent reports the outcome from it', async () => {
    // GIVEN a health queue, and an app the agent applied on a target
    const { sqs } = clients();
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('agent-health') }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    const dir = mkdtempSync(join(tmpdir(), 'sluice-recheck-'));
    const eventsFile = join(dir, 'events.jsonl');
    const deps = {
      bundles: new FileBundleStore(join(dir, 'bundles')),
      cluster: directoryClusters(join(dir, 'targets')),
      secrets: new MemorySecretStore(),
      bus: new LocalEventBus({ logFile: eventsFile }),
      clock: systemClock,
    };
    const request = applyRequest('web', await storeBundle(deps.bundles, 'web', [configMap('a')], 1), 1);
    expect((await applyRequested(deps, request)).detailType).toBe('Deployment Succeeded');
    const rechecks = new SqsHealthRechecks({ queueUrl: QueueUrl!, clock: systemClock, aws: aws() });

    // WHEN the agent schedules its next look 3 s from now
    await rechecks.schedule(
      {
        request,
        since: Date.now(),
        deadlineMs: 60_000,
        attempt: 1,
        result: { applied: 1, unchanged: 0, pruned: 0 },
      },
      new Date(Date.now() + 3000),
    );

    // THEN nothing is delivered at once; the look arrives once due
    expect(await receive(sqs, QueueUrl!, { count: 1, timeoutMs: 1000, keep: true })).toHaveLength(0);
    const [due] = await receive(sqs, QueueUrl!, { count: 1, timeoutMs: 15_000 });
    expect(due).toBeDefined();

    // WHEN the agent function takes it from its health queue
    const handler = createAgentHandler({ ...deps, rechecks });
    const response = await handler(
      { Records: [toRecord(due!, Attributes!.QueueArn!)] },
      localContext('agent'),
    );

    // THEN it succeeds and Deployment Succeeded names the release and what its apply did
    expect(response?.batchItemFailures ?? []).toEqual([]);
    const events = readFileSync(eventsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const outcomes = events.filter((e) => e['detail-type'] === 'Deployment Succeeded');
    expect(outcomes).toHaveLength(2);
    expect(outcomes[1].detail).toMatchObject({ app: 'web', generation: 1, applied: 1, target: 'onprem-1' });
  });
});
