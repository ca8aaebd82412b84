import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENTS_DIR, eventSchemaFiles, fileNameOf, REGENERATE } from '../../scripts/schemas/events.ts';
import { eventSchemas } from '../../shared/schemas/events.ts';

describe('docs/events (JSON Schema generated from shared/schemas/events.ts)', () => {
  it('matches the zod schemas, file for file', () => {
    // GIVEN the schemas the zod definitions give today
    const expected = eventSchemaFiles();

    // WHEN they are compared with the checked-in files
    const onDisk = readdirSync(EVENTS_DIR);
    const stale = [...expected].filter(([name, text]) => {
      const file = join(EVENTS_DIR, name);
      return !onDisk.includes(name) || readFileSync(file, 'utf8') !== text;
    });
    const extra = onDisk.filter((name) => !expected.has(name));

    // THEN none is missing, out of date or left over
    const fix = `docs/events/ is out of date with shared/schemas/events.ts. Fix: run \`${REGENERATE}\` and commit docs/events/`;
    expect(
      stale.map(([name]) => name),
      fix,
    ).toEqual([]);
    expect(extra, fix).toEqual([]);
  });

  it('has one schema for every detail-type on the bus, requiring the trace fields', () => {
    // GIVEN every detail-type Sluice publishes
    const files = eventSchemaFiles();
    for (const detailType of Object.keys(eventSchemas)) {
      // WHEN its schema is read THEN it exists, is titled by its detail-type, and requires what `sluice trace` needs
      const text = files.get(fileNameOf(detailType));
      expect(text, detailType).toBeDefined();
      const schema = JSON.parse(text as string) as { title: string; required: string[] };
      expect(schema.title).toBe(detailType);
      expect(schema.required).toEqual(
        expect.arrayContaining(['schemaVersion', 'traceId', 'repo', 'branch', 'commit', 'occurredAt']),
      );
    }
  });
});
