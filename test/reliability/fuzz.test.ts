import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { writeTree } from '../../bench/lib/fleet.ts';
import { createDirectoryTree } from '../../shared/adapters/local/directory-tree.ts';
import { MemoryIdempotencyStore, systemClock } from '../../shared/adapters/local/memory.ts';
import { parseFleetConfig } from '../../shared/core/config.ts';
import { ingestWebhook } from '../../shared/core/ingest.ts';
import { renderApp } from '../../shared/core/render.ts';
import { GITHUB_SIGNATURE_HEADER, signGithub } from '../../shared/core/webhooks/signature.ts';
import { isSluiceError } from '../../shared/errors.ts';
import type { OutboundEvent } from '../../shared/schemas/events.ts';

const SEED = 8_080;
const RUNS = 300;
const SECRET = 'fuzz-secret';

/** Anything a parser may throw must be a SluiceError that explains itself. */
const expectClearError = (error: unknown) => {
  expect(isSluiceError(error), String((error as Error)?.stack ?? error)).toBe(true);
  expect((error as Error).message.length).toBeGreaterThan(10);
};

/** JSON-ish values shaped loosely like the documents the parsers expect. */
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(fc.string(), fc.constantFrom('name', 'apps', 'targets', 'path', 'kind', 'metadata', 'labels')),
      tie('value'),
      { maxKeys: 5 },
    ),
  ),
})).value;

describe('fuzzing the parsers that take outside input (fixed seed, bounded runs)', () => {
  it('ingest answers every webhook body and header set with a status, never a crash', async () => {
    const published: OutboundEvent[] = [];
    const deps = {
      bus: { publish: async (events: readonly OutboundEvent[]) => void published.push(...events) },
      deliveries: new MemoryIdempotencyStore(),
      clock: systemClock,
      webhookSecrets: async () => [SECRET],
      newTraceId: () => 'trace',
    };
    const pushLike = fc.record({
      ref: fc.oneof(fc.string(), fc.constant('refs/heads/main')),
      before: fc.oneof(fc.string(), fc.constant('0'.repeat(40))),
      after: fc.oneof(fc.string(), fc.constant('a'.repeat(40))),
      repository: jsonish,
      commits: jsonish,
      head_commit: jsonish,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(jsonish, pushLike),
        fc.uint8Array({ maxLength: 64 }),
        fc.boolean(),
        fc.dictionary(fc.constantFrom('x-github-event', 'x-github-delivery', 'content-type'), fc.string()),
        async (payload, junk, signed, headers) => {
          // GIVEN a body that is JSON or raw bytes, signed correctly or not, with fuzzed headers
          const body = junk.length % 3 === 0 ? Buffer.from(junk) : Buffer.from(JSON.stringify(payload) ?? '');
          const request = {
            provider: 'github',
            headers: {
              'content-type': 'application/json',
              'x-github-event': 'push',
              ...headers,
              ...(signed ? { [GITHUB_SIGNATURE_HEADER]: signGithub(SECRET, body) } : {}),
            },
            body,
          };
          // WHEN ingest reads it THEN it answers with a status and a message, and throws nothing
          const answer = await ingestWebhook(deps, request);
          expect([200, 202, 400, 401, 404, 413, 415]).toContain(answer.status);
          if (answer.status >= 400) expect(String(answer.body.message)).toMatch(/\S/);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('parseFleetConfig parses or explains every sluice.yaml', () => {
    const config = fc.oneof(
      fc.string(),
      jsonish.map((v) => stringify(v)),
      jsonish.map((v) =>
        stringify({ apiVersion: 'sluice.dev/v1', kind: 'Fleet', targets: v, apps: [{ name: 'a', path: v }] }),
      ),
    );
    fc.assert(
      fc.property(
        // Unresolved aliases (`*a`) included: they once escaped as yaml's ReferenceError.
        fc.oneof(config, fc.constant('apiVersion: *missing\n')),
        (text) => {
          // GIVEN any text WHEN it is parsed as sluice.yaml THEN it parses, or says what is wrong
          try {
            parseFleetConfig(text);
          } catch (error) {
            expectClearError(error);
            expect((error as Error).message).toMatch(/^sluice\.yaml/);
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('renderApp renders or explains every manifest directory', async () => {
    const manifest = fc.oneof(
      fc.string(),
      jsonish.map((v) => stringify(v)),
      fc
        .record({ apiVersion: fc.constant('v1'), kind: fc.string(), metadata: jsonish, data: jsonish })
        .map((v) => stringify(v)),
      fc.constant(
        `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\ndata: { a: "$${'{'}values.missing}" }\n`,
      ),
    );
    const root = await mkdtemp(path.join(tmpdir(), 'sluice-fuzz-'));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(manifest, { minLength: 1, maxLength: 3 }), async (docs) => {
        // GIVEN an app directory of fuzzed manifests
        const dir = path.join(root, String(n++));
        await writeTree(dir, Object.fromEntries(docs.map((d, i) => [`app/m${i}.yaml`, d])));
        const spec = {
          app: 'fuzz',
          path: 'app',
          values: {},
          disabledPolicies: [],
          sync: { prune: true, selfHeal: false },
        };
        // WHEN it is rendered THEN it renders, or fails with a SluiceError naming the problem
        try {
          await renderApp(createDirectoryTree(dir), spec);
        } catch (error) {
          expectClearError(error);
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
    await rm(root, { recursive: true, force: true });
  });
});
