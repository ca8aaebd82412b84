/**
 * The one check every EventBus adapter makes before anything leaves the process: the detail-type
 * is a Sluice event, its detail matches the zod schema, and the entry fits in an EventBridge
 * event. A bad event is BAD_INPUT (never retried) and is refused before any event of its batch
 * is published, locally as on AWS, so `sluice dev` catches what EventBridge would refuse.
 */
import { BadInputError } from '../errors.ts';
import { EVENT_SOURCE, eventSchemas, type OutboundEvent } from '../schemas/events.ts';

/** EventBridge rejects an entry over 256 KB (detail-type + detail + source + resources). */
const MAX_ENTRY_BYTES = 256 * 1024;

/** The detail as its schema parses it (defaults applied), or BAD_INPUT naming every issue. */
export const validDetail = (event: OutboundEvent): unknown => {
  const schema = eventSchemas[event.detailType];
  if (schema === undefined) {
    throw new BadInputError(
      `event detail-type "${String(event.detailType)}"`,
      'is not a Sluice event',
      `use one of: ${Object.keys(eventSchemas).join(', ')}`,
    );
  }
  const parsed = schema.safeParse(event.detail);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new BadInputError(
      `"${event.detailType}" event detail`,
      `does not match its schema (${issues.join('; ')})`,
      'build the detail with the fields shared/schemas/events.ts requires',
      { detailType: event.detailType, issues },
    );
  }
  const size = Buffer.byteLength(`${EVENT_SOURCE}${event.detailType}${JSON.stringify(parsed.data)}`);
  if (size > MAX_ENTRY_BYTES) {
    throw new BadInputError(
      `"${event.detailType}" event`,
      `is ${size} bytes, over EventBridge's ${MAX_ENTRY_BYTES}-byte limit`,
      'pass large payloads by reference (an S3 key and digest), not inline',
      { size },
    );
  }
  return parsed.data;
};
