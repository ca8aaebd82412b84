/**
 * What dispatch and rollback rely on from every AgentDispatcher: each Apply Requested reaches the
 * agent queue serving its target, in the order sent per (target, app), and a hand-off sent again
 * with the same deduplication id (a redelivered Bundle Verified) reaches the agent once.
 */
import { describe, expect, it } from 'vitest';
import type { AgentDispatcher } from '../../shared/ports/index.ts';
import type { TargetRef } from '../../shared/schemas/events.ts';

export interface AgentDispatcherFixture {
  readonly dispatcher: AgentDispatcher;
  /** Two targets, each served by its own agent queue. */
  readonly targets: readonly [TargetRef, TargetRef];
  /**
   * The bodies the agent of `target` received, waiting until `count` arrived or a bounded wait
   * passed (then it returns what it has).
   */
  readonly received: (target: TargetRef, count: number) => Promise<string[]>;
}

const body = (app: string, generation: number, at = '2026-01-01T00:00:00.000Z') =>
  JSON.stringify({ app, generation, occurredAt: at });

export const describeAgentDispatcherContract = (
  name: string,
  make: () => Promise<AgentDispatcherFixture>,
) => {
  describe(`AgentDispatcher contract: ${name}`, () => {
    it('hands each message to the agent queue serving its target, and only to it', async () => {
      // GIVEN two targets, each with its own agent
      const { dispatcher, targets, received } = await make();
      const [east, west] = targets;

      // WHEN one message is sent to each
      await dispatcher.send(east, { body: body('web', 1), dedupId: 'web:east:1' });
      await dispatcher.send(west, { body: body('api', 1), dedupId: 'api:west:1' });

      // THEN each agent received its own
      expect(await received(east, 1)).toEqual([body('web', 1)]);
      expect(await received(west, 1)).toEqual([body('api', 1)]);
    });

    it('keeps the order of one app on one target', async () => {
      // GIVEN an agent WHEN generations 1, 2 and 3 of one app are sent in turn
      const { dispatcher, targets, received } = await make();
      for (const g of [1, 2, 3])
        await dispatcher.send(targets[0], { body: body('web', g), dedupId: `web:${g}` });

      // THEN they arrive in that order
      expect(await received(targets[0], 3)).toEqual([body('web', 1), body('web', 2), body('web', 3)]);
    });

    it('delivers a hand-off sent again with the same deduplication id once', async () => {
      // GIVEN a hand-off already sent
      const { dispatcher, targets, received } = await make();
      await dispatcher.send(targets[0], { body: body('web', 1), dedupId: 'web:a:1:abc' });

      // WHEN a redelivered Bundle Verified sends it again (a new occurredAt, the same dedup id)
      await dispatcher.send(targets[0], {
        body: body('web', 1, '2026-01-01T00:00:05.000Z'),
        dedupId: 'web:a:1:abc',
      });

      // THEN the agent receives it once
      expect(await received(targets[0], 2)).toEqual([body('web', 1)]);
    });

    it('hands a batch (sendMany) over as the same sends would: by target, in order, deduplicated', async () => {
      // GIVEN two targets WHEN 12 hand-offs go as one batch (more than one SendMessageBatch),
      // one of them twice under one deduplication id, as a redelivered dispatch chunk sends it
      const { dispatcher, targets, received } = await make();
      const [east, west] = targets;
      const messages = [1, 2, 3, 4, 5, 6].flatMap((g) => [
        { target: east, body: body('web', g), dedupId: `web:east:${g}` },
        { target: west, body: body('api', g), dedupId: `api:west:${g}` },
      ]);
      expect(dispatcher.sendMany).toBeDefined();
      await dispatcher.sendMany!(messages);
      await dispatcher.sendMany!([
        { target: east, body: body('web', 6, '2026-01-01T00:00:05.000Z'), dedupId: 'web:east:6' },
      ]);

      // THEN each agent received its own six, in order, once each
      expect(await received(east, 7)).toEqual([1, 2, 3, 4, 5, 6].map((g) => body('web', g)));
      expect(await received(west, 6)).toEqual([1, 2, 3, 4, 5, 6].map((g) => body('api', g)));
    });
  });
};
