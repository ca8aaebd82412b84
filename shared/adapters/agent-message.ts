/**
 * How an Apply Requested is grouped and deduplicated on a FIFO agent queue, shared by the SQS
 * dispatcher and the in-process one so both hosts order and collapse hand-offs alike.
 */
import { createHash } from 'node:crypto';
import type { TargetRef } from '../schemas/events.ts';

/** SQS caps MessageGroupId and MessageDeduplicationId at 128 characters of `[!-~]`. */
export const fifoId = (id: string): string =>
  /^[!-~]{1,128}$/.test(id) ? id : createHash('sha256').update(id).digest('hex');

/** `<target>/<app>` from an Apply Requested body (just the target for any other message). */
export const groupIdFor = (target: TargetRef, body: string): string => {
  let app: unknown;
  try {
    app = (JSON.parse(body) as { app?: unknown }).app;
  } catch {
    app = undefined;
  }
  return fifoId(typeof app === 'string' ? `${target.name}/${app}` : target.name);
};
