import type { ReleasePlanned } from '../schemas/events.ts';

/**
 * What one Release Planned event may weigh: EventBridge refuses an entry over 256 KiB, and the
 * Bundle Verified each release becomes carries the same target list, so a margin is kept.
 */
export const MAX_RELEASE_EVENT_BYTES = 192 * 1024;

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/**
 * A plan as events that each fit on the bus: the event itself when it fits; else each release
 * whose targets alone are too many is split into parts (the same render spec, a share of the
 * targets: the render cache renders the spec once), and the releases are packed into as few
 * events as fit, all of the same generation. A fleet of 10,000 targets plans in a handful.
 */
export const releaseParts = (
  event: ReleasePlanned,
  maxBytes: number = MAX_RELEASE_EVENT_BYTES,
): ReleasePlanned[] => {
  if (bytes(event) <= maxBytes) return [event];
  const envelope = bytes({ ...event, releases: [] });
  const budget = maxBytes - envelope;
  const parts: ReleasePlanned['releases'] = [];
  for (const release of event.releases) {
    const spec = bytes({ ...release, targets: [] });
    let part: typeof release.targets = [];
    let size = spec;
    for (const target of release.targets) {
      const more = bytes(target) + 1;
      if (part.length > 0 && size + more > budget) {
        parts.push({ ...release, targets: part });
        part = [];
        size = spec;
      }
      part.push(target);
      size += more;
    }
    parts.push({ ...release, targets: part });
  }
  const events: ReleasePlanned[] = [];
  let releases: ReleasePlanned['releases'] = [];
  let size = 0;
  for (const part of parts) {
    const more = bytes(part) + 1;
    if (releases.length > 0 && size + more > budget) {
      events.push({ ...event, releases });
      releases = [];
      size = 0;
    }
    releases.push(part);
    size += more;
  }
  events.push({ ...event, releases });
  return events;
};
