/**
 * Generates docs/events/: one JSON Schema (draft 2020-12) per event detail-type and one for the
 * EventBridge envelope, from the zod schemas in shared/schemas/events.ts (zod 4's toJSONSchema),
 * plus an index. The zod schemas stay the one definition; these files are for consumers outside
 * TypeScript. test/unit/event-schemas.test.ts fails when the checked-in files drift from them.
 *
 *   npm run schemas        # rewrites docs/events/
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  driftCheckRequested,
  EVENT_SOURCE,
  envelopeSchema,
  eventSchemas,
  reconcileRequested,
} from '../../shared/schemas/events.ts';

export const EVENTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/events');
export const REGENERATE = 'npm run schemas';

/** The events a schedule (not a push) sends: no trace fields, so they are not in eventSchemas. */
const scheduled = {
  'Drift Check Requested': driftCheckRequested,
  'Reconcile Requested': reconcileRequested,
} as const;

/** `Commit Pushed` → `commit-pushed.json`. */
export const fileNameOf = (detailType: string): string =>
  `${detailType.toLowerCase().replaceAll(' ', '-')}.json`;

const render = (schema: z.ZodType, meta: { id: string; title: string; description: string }): string => {
  // `input`: what a producer may send (fields with defaults are optional), which is what a
  // validator on the consuming side should accept.
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' });
  const { $schema, ...rest } = json;
  return `${JSON.stringify({ $schema, $id: meta.id, title: meta.title, description: meta.description, ...rest }, null, 2)}\n`;
};

/** Every file of docs/events/ by name, as the zod schemas say it should be. */
export const eventSchemaFiles = (): Map<string, string> => {
  const files = new Map<string, string>();
  const rows: string[] = [];
  const add = (detailType: string, schema: z.ZodType, note: string) => {
    const name = fileNameOf(detailType);
    files.set(
      name,
      render(schema, {
        id: name,
        title: detailType,
        description: `The detail of a "${detailType}" event (source "${EVENT_SOURCE}", detail-type "${detailType}"). ${note}`,
      }),
    );
    rows.push(`| ${detailType} | [${name}](${name}) | ${note} |`);
  };
  for (const [detailType, schema] of Object.entries(eventSchemas)) {
    add(detailType, schema, 'Published by Sluice; carries the trace fields.');
  }
  for (const [detailType, schema] of Object.entries(scheduled)) {
    add(detailType, schema, 'Sent by a schedule; no trace fields.');
  }
  files.set(
    'envelope.json',
    render(envelopeSchema, {
      id: 'envelope.json',
      title: 'EventBridge envelope',
      description:
        'The EventBridge envelope every event travels in, as an SQS target receives it in the message body; `detail` is one of the detail schemas beside this file.',
    }),
  );
  files.set(
    'README.md',
    [
      '# Event schemas',
      '',
      'Generated from the zod schemas in `shared/schemas/events.ts` (the one definition) by',
      `\`${REGENERATE}\`; do not edit by hand. \`npm test\` fails when these files and the zod`,
      'schemas disagree. Each file is a JSON Schema (draft 2020-12) of the `detail` of one',
      'detail-type, in its input form: a field with a default may be left out.',
      '',
      '| detail-type | schema | notes |',
      '| --- | --- | --- |',
      ...rows,
      '| (envelope) | [envelope.json](envelope.json) | What an SQS target receives: `detail-type`, `source`, `time`, `detail`. |',
      '',
    ].join('\n'),
  );
  return files;
};

/** Writes docs/events/ afresh: stale files of renamed or removed events go. */
export const writeEventSchemas = (dir: string = EVENTS_DIR): string[] => {
  const files = eventSchemaFiles();
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) if (!files.has(name)) rmSync(join(dir, name));
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return [...files.keys()];
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const written = writeEventSchemas();
  console.log(`wrote ${written.length} files to ${EVENTS_DIR}`);
}
