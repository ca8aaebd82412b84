import { describe, expect, it } from 'vitest';
import { ephemeralSigningKey } from '../../shared/adapters/local/bundle-signing.ts';
import { localContext } from '../../shared/adapters/local/event-source.ts';
import {
  MemoryIdempotencyStore,
  MemorySecretStore,
  systemClock,
} from '../../shared/adapters/local/memory.ts';
import type { DeadLetters, EventBus, Ledger } from '../../shared/ports/index.ts';
import { createPipeline, type PipelineAdapters } from '../../shared/runtime/pipeline.ts';

const bus: EventBus = { publish: async () => undefined };
const deadLetters: DeadLetters = { park: async () => undefined };
const ledger = { getDeployment: async () => undefined } as unknown as Ledger;
const agents = { send: async () => undefined };
const base: PipelineAdapters = { clock: systemClock, bus, ledger, agents, deadLetters };

describe('createPipeline', () => {
  it('refuses to build dispatch without a signer unless signing is explicitly off', () => {
    // GIVEN a host that gives dispatch every port but a signer
    // WHEN it asks for the dispatch handler with the default (required) signing
    // THEN start-up fails naming the missing port and the fix
    expect(() => createPipeline(base).handler('dispatch')).toThrow(
      /dispatch\.signer.*pass adapters\.signer/s,
    );
    // AND with signing: 'off' said out loud, the handler is built
    expect(typeof createPipeline(base, { signing: 'off' }).handler('dispatch')).toBe('function');
    // AND with a signer it is built under the default
    expect(typeof createPipeline({ ...base, ...ephemeralSigningKey() }).handler('dispatch')).toBe('function');
  });

  it('names the port a stage lacks', () => {
    // GIVEN a host without a git source WHEN it asks for the plan handler THEN the error says which port
    expect(() => createPipeline(base).handler('plan')).toThrow(/plan\.git/);
  });

  it('hands EMF metrics to the sink of an in-process host instead of stdout', async () => {
    // GIVEN a pipeline whose metrics go to a sink
    const documents: Readonly<Record<string, unknown>>[] = [];
    const handler = createPipeline(base, {
      signing: 'off',
      metricsSink: (emf) => documents.push(emf),
    }).handler('dispatch');
    // WHEN a batch with one bad message is handled
    await handler(
      {
        Records: [
          {
            messageId: 'm-1',
            receiptHandle: 'r-1',
            body: 'not json',
            attributes: {},
            eventSourceARN: 'arn:aws:sqs:local:000000000000:sluice-dispatch',
          } as never,
        ],
      },
      localContext('dispatch'),
    );
    // THEN one EMF document counts the failure in the Sluice namespace
    expect(documents).toHaveLength(1);
    expect(JSON.stringify(documents[0])).toContain('"Namespace":"Sluice"');
    expect(documents[0]!.RecordFailures).toBe(1);
  });

  it('sees a repo secret stored after a lookup at once when webhookSecretTtlMs is 0, and a minute later by default', async () => {
    // GIVEN an ingest whose repo has no secret of its own yet
    const secrets = new MemorySecretStore();
    const adapters: PipelineAdapters = {
      ...base,
      secrets,
      deliveries: new MemoryIdempotencyStore(),
      sharedWebhookSecrets: async () => ['shared'],
      newTraceId: () => 'trace-0001',
    };
    const cached = createPipeline(adapters).ingestDeps();
    const uncached = createPipeline(adapters, { webhookSecretTtlMs: 0 }).ingestDeps();
    expect(await cached.webhookSecrets('github', 'acme/fleet')).toEqual(['shared']);
    expect(await uncached.webhookSecrets('github', 'acme/fleet')).toEqual(['shared']);
    // WHEN `sluice webhook register` stores one
    secrets.set('sluice/webhooks/github/acme/fleet#current', 'own');
    // THEN sluice dev's setting (0) accepts only the repo's own secret at once; the deployed default still answers from its cache
    expect(await uncached.webhookSecrets('github', 'acme/fleet')).toEqual(['own']);
    expect(await cached.webhookSecrets('github', 'acme/fleet')).toEqual(['shared']);
  });
});
