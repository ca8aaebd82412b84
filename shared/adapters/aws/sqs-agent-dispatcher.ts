import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AgentQueueUrls, AwsSettings } from '../../config/env.ts';
import { ConfigError } from '../../errors.ts';
import type { AgentDispatcher, AgentMessage } from '../../ports/index.ts';
import type { TargetRef } from '../../schemas/events.ts';
import { fifoId, groupIdFor } from '../agent-message.ts';
import { clientConfig } from './client-config.ts';
import { translateAwsError } from './errors.ts';
import { sendMessageBatches } from './sqs-send-batch.ts';

export interface SqsAgentDispatcherOptions {
  /** The agent queue of a target's region (usually from config, one queue per account/region). */
  readonly queueUrlFor: (target: TargetRef) => string;
  /** One client per region: SQS must be called in the queue's own region. */
  readonly clientFor?: (region: string) => SQSClient;
  /** Endpoint (emulator) for the clients built when `clientFor` is not given. */
  readonly aws?: Pick<AwsSettings, 'endpoint'>;
}

/** A target's agent queue from the stack's map (SLUICE_AGENT_QUEUES): by target name, else its region's only agent. */
export const agentQueueUrlFor =
  (queues: AgentQueueUrls) =>
  (target: TargetRef): string => {
    const url = queues.targets[target.name] ?? queues.regions[target.region];
    if (url === undefined) {
      throw new ConfigError(
        'sluice.deploy.yaml',
        'regions[].targets',
        `no regional agent serves target "${target.name}" (region ${target.region})`,
        `add "${target.name}" to the targets of a regions[] entry and redeploy the management stack`,
      );
    }
    return url;
  };

export class SqsAgentDispatcher implements AgentDispatcher {
  readonly #queueUrlFor: (target: TargetRef) => string;
  readonly #clientFor: (region: string) => SQSClient;
  readonly #clients = new Map<string, SQSClient>();

  constructor(options: SqsAgentDispatcherOptions) {
    this.#queueUrlFor = options.queueUrlFor;
    const endpoint = options.aws?.endpoint;
    this.#clientFor =
      options.clientFor ??
      ((region) => {
        let client = this.#clients.get(region);
        if (client === undefined) {
          client = new SQSClient(clientConfig(endpoint === undefined ? { region } : { region, endpoint }));
          this.#clients.set(region, client);
        }
        return client;
      });
  }

  async send(target: TargetRef, message: { body: string; dedupId: string }): Promise<void> {
    const queueUrl = this.#queueUrlFor(target);
    try {
      await this.#clientFor(target.region).send(
        new SendMessageCommand({ QueueUrl: queueUrl, ...entryOf(queueUrl, { target, ...message }) }),
      );
    } catch (error) {
      throw translateAwsError(error, `agent queue ${queueUrl} for target ${target.name}`, {
        target: target.name,
        region: target.region,
      });
    }
  }

  /** SendMessageBatch per agent queue (10 a call), the queues in parallel. */
  async sendMany(messages: readonly AgentMessage[]): Promise<void> {
    const byQueue = new Map<string, { region: string; messages: AgentMessage[] }>();
    for (const m of messages) {
      const queueUrl = this.#queueUrlFor(m.target);
      const group = byQueue.get(queueUrl) ?? { region: m.target.region, messages: [] };
      group.messages.push(m);
      byQueue.set(queueUrl, group);
    }
    await Promise.all(
      [...byQueue].map(([queueUrl, group]) =>
        sendMessageBatches(
          this.#clientFor(group.region),
          queueUrl,
          group.messages.map((m) => entryOf(queueUrl, m)),
          `agent queue ${queueUrl} for targets ${group.messages.map((m) => m.target.name).join(', ')}`,
        ),
      ),
    );
  }
}

/** The message of one hand-off, with its FIFO group and deduplication id on a FIFO queue. */
const entryOf = (queueUrl: string, { target, body, dedupId }: AgentMessage) => ({
  MessageBody: body,
  // One group per (target, app): an agent applies one delivery per app and target at a
  // time and in order, everything else in parallel (as the in-process agent's lock does).
  ...(queueUrl.endsWith('.fifo')
    ? { MessageGroupId: groupIdFor(target, body), MessageDeduplicationId: fifoId(dedupId) }
    : {}),
  MessageAttributes: {
    target: { DataType: 'String', StringValue: target.name },
    dedupId: { DataType: 'String', StringValue: dedupId },
  },
});
