import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { readJson } from '../../shared/adapters/local/json-file.ts';
import { FileLedger } from '../../shared/adapters/local/ledger.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { ALARM_DETAIL_TYPE, ALARM_SOURCE } from '../../shared/core/alarms.ts';
import { manualRollbackRequests } from '../../shared/core/rollback.ts';
import { BadInputError, SluiceError } from '../../shared/errors.ts';
import {
  type Envelope,
  EVENT_SOURCE,
  envelopeSchema,
  rollbackRequested,
} from '../../shared/schemas/events.ts';
import { workdirPaths } from '../runtime/local-pipeline.ts';
import { DEFAULT_WORKDIR } from './status.ts';

/** Where `sluice dev` writes its control endpoint, for `sluice rollback` and `sluice alarm`. */
export const controlFile = (workdir: string) => path.join(workdir, 'state', 'control.json');

const MAX_BODY = 256 * 1024;

/**
 * Rollback Requested from the `sluice` source, or a CloudWatch alarm state change: the only
 * events a local tool may inject; everything else is produced by the pipeline itself.
 */
const accept = async (bus: LocalEventBus, body: unknown): Promise<string[]> => {
  const list = Array.isArray((body as { events?: unknown })?.events)
    ? (body as { events: unknown[] }).events
    : [body];
  const ids: string[] = [];
  for (const item of list) {
    const envelope = envelopeSchema.safeParse(item);
    if (!envelope.success) {
      throw new BadInputError(
        'event',
        'is not an EventBridge envelope',
        'send {"detail-type","source","detail",…}',
      );
    }
    const e = envelope.data;
    if (e.source === ALARM_SOURCE && e['detail-type'] === ALARM_DETAIL_TYPE) {
      await bus.publishRaw(e);
    } else if (e.source === EVENT_SOURCE && e['detail-type'] === 'Rollback Requested') {
      const detail = rollbackRequested.safeParse(e.detail);
      if (!detail.success) {
        const issue = detail.error.issues[0];
        throw new BadInputError(
          'Rollback Requested',
          `detail.${issue?.path.join('.')} ${issue?.message}`,
          'match shared/schemas/events.ts',
        );
      }
      await bus.publish([{ detailType: 'Rollback Requested', detail: detail.data }]);
    } else {
      throw new BadInputError(
        `event ${e.source} "${e['detail-type']}"`,
        'cannot be sent from outside',
        `send sluice "Rollback Requested" or ${ALARM_SOURCE} "${ALARM_DETAIL_TYPE}"`,
      );
    }
    ids.push(e.id);
  }
  return ids;
};

const readBody = (req: IncomingMessage): Promise<string | undefined> =>
  new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.once('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });

/**
 * `sluice dev`'s control endpoint: `POST /local/events` on 127.0.0.1 puts events on the local bus,
 * as EventBridge's PutEvents would. No auth: it binds loopback only and accepts only rollback
 * triggers.
 */
export const startControlServer = async (
  bus: LocalEventBus,
): Promise<{ url: string; close(): Promise<void> }> => {
  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (new URL(req.url ?? '/', 'http://127.0.0.1').pathname !== '/local/events') {
      reply(404, { error: 'not_found', message: 'events are accepted at POST /local/events' });
      return;
    }
    if (req.method !== 'POST') {
      reply(405, { error: 'method_not_allowed', message: 'use POST' });
      return;
    }
    readBody(req)
      .then(async (text) => {
        if (text === undefined)
          return reply(413, { error: 'payload_too_large', message: `over ${MAX_BODY} bytes` });
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return reply(400, { error: 'bad_input', message: 'body is not JSON' });
        }
        const ids = await accept(bus, body);
        return reply(202, { accepted: ids.length, ids });
      })
      .catch((error: unknown) => {
        const known = error instanceof SluiceError && error.code === 'BAD_INPUT';
        reply(known ? 400 : 500, {
          error: known ? 'bad_input' : 'internal',
          message: known ? error.message : 'the event could not be published',
        });
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};

/** Sends events to a running `sluice dev` in `workdir`. */
export const sendToDev = async (workdir: string, events: unknown[]): Promise<{ accepted: number }> => {
  const file = controlFile(path.resolve(workdir));
  const control = await readJson<{ url?: string }>(file, {});
  const fix = `start \`sluice dev --workdir ${workdir}\` first, or pass the --workdir it runs in`;
  if (!control.url) throw new BadInputError(`--workdir ${workdir}`, 'has no running `sluice dev`', fix);
  let response: Response;
  try {
    response = await fetch(`${control.url}/local/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
  } catch {
    throw new BadInputError(`--workdir ${workdir}`, `\`sluice dev\` does not answer at ${control.url}`, fix);
  }
  const body = (await response.json()) as { accepted?: number; message?: string };
  if (!response.ok) {
    throw new SluiceError('REJECTED', `sluice dev refused the event: ${body.message ?? response.status}`);
  }
  return { accepted: body.accepted ?? 0 };
};

const envelopeOf = (detail: unknown, id: string): Envelope => ({
  version: '0',
  id,
  'detail-type': 'Rollback Requested',
  source: EVENT_SOURCE,
  account: '000000000000',
  time: new Date().toISOString(),
  region: 'local',
  resources: [],
  detail,
});

export const registerRollback = (program: Command): void => {
  program
    .command('rollback')
    .description('roll an app back to its last known good release now, and revert the commit in Git')
    .requiredOption('--app <name>', 'the app to roll back')
    .option('--target <name>', 'only this target (default: every target of the app)')
    .option('--to <sha>', 'the release to return to (default: the last known good)')
    .option('--workdir <dir>', 'the working directory of `sluice dev`', DEFAULT_WORKDIR)
    .action(async (options: { app: string; target?: string; to?: string; workdir: string }) => {
      if (options.to !== undefined && !/^[0-9a-f]{4,40}$/.test(options.to)) {
        throw new BadInputError(
          `--to ${options.to}`,
          'is not a commit id',
          'pass 4 to 40 lower-case hex characters',
        );
      }
      const ledger = new FileLedger(workdirPaths(path.resolve(options.workdir)).ledger);
      const requests = await manualRollbackRequests(
        ledger,
        { ...options, by: userInfo().username },
        systemClock,
      );
      await sendToDev(
        options.workdir,
        requests.map((r) => envelopeOf(r, crypto.randomUUID())),
      );
      for (const r of requests) {
        console.log(
          `rollback requested: ${r.app} on ${r.targets.join(', ')} from ${r.commit.slice(0, 7)} (trace ${r.traceId.slice(0, 8)}); follow it with \`sluice trace ${r.commit.slice(0, 7)}\``,
        );
      }
    });
};
