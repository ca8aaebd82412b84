/**
 * `sluice dev`'s control endpoint: `POST /local/events` on 127.0.0.1 puts a rollback trigger on
 * the local bus, as EventBridge's PutEvents would (`sluice rollback`, `sluice alarm`). It binds
 * loopback only, and because a web page the user visits can still reach loopback (directly or by
 * DNS rebinding), every request must also carry:
 * - a loopback Host header (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`), else 421 — a
 *   rebound name such as `attacker.example` is refused before anything else is looked at;
 * - `Authorization: Bearer <token>`, the token `sluice dev` wrote to `state/control-token` (0600,
 *   so only the user who runs it can read it), else 401;
 * - `content-type: application/json`, else 415 — no form or text/plain "simple" cross-site POST.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ALARM_DETAIL_TYPE, ALARM_SOURCE } from '../../core/alarms.ts';
import { BadInputError, SluiceError } from '../../errors.ts';
import { printable } from '../../printable.ts';
import {
  type Envelope,
  EVENT_SOURCE,
  envelopeSchema,
  rollbackRequested,
  rolloutApproved,
} from '../../schemas/events.ts';
import { writeFileInside } from '../safe-path.ts';
import type { LocalEventBus } from './event-bus.ts';
import { readJson } from './json-file.ts';

/** Where `sluice dev` writes its control endpoint's URL, for `sluice rollback` and `sluice alarm`. */
export const controlFile = (workdir: string) => path.join(workdir, 'state', 'control.json');

/** The bearer token of the control endpoint: 0600, rewritten on every start of `sluice dev`. */
export const controlTokenFile = (workdir: string) => path.join(workdir, 'state', 'control-token');

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
    } else if (e.source === EVENT_SOURCE && e['detail-type'] === 'Rollout Approved') {
      // `sluice approve`: lets a rollout's approval wave start.
      const detail = rolloutApproved.safeParse(e.detail);
      if (!detail.success) {
        const issue = detail.error.issues[0];
        throw new BadInputError(
          'Rollout Approved',
          `detail.${issue?.path.join('.')} ${issue?.message}`,
          'match shared/schemas/events.ts',
        );
      }
      await bus.publish([{ detailType: 'Rollout Approved', detail: detail.data }]);
    } else {
      throw new BadInputError(
        `event ${printable(e.source)} "${printable(e['detail-type'])}"`,
        'cannot be sent from outside',
        `send sluice "Rollback Requested", sluice "Rollout Approved" or ${ALARM_SOURCE} "${ALARM_DETAIL_TYPE}"`,
      );
    }
    ids.push(e.id);
  }
  return ids;
};

/** A request body as text, or undefined when it is over `max` bytes (read to the end, kept to `max`). */
export const readBody = (req: IncomingMessage, max = MAX_BODY): Promise<string | undefined> =>
  new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) chunks.push(chunk);
    });
    req.once('end', () => resolve(size > max ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** True for `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT` (any case): never a rebound DNS name. */
export const isLoopbackHost = (host: string | undefined, port: number): boolean =>
  host !== undefined && LOOPBACK_HOSTS.some((name) => host.toLowerCase() === `${name}:${port}`);

const sameToken = (given: string, expected: string): boolean => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

export interface ControlServerOptions {
  /** The 0600 file the bearer token is written to (controlTokenFile of the workdir). */
  readonly tokenFile: string;
}

export interface ControlServer {
  readonly url: string;
  close(): Promise<void>;
}

export const startControlServer = async (
  bus: LocalEventBus,
  options: ControlServerOptions,
): Promise<ControlServer> => {
  const token = randomBytes(32).toString('hex');
  await writeFileInside(path.dirname(options.tokenFile), [path.basename(options.tokenFile)], `${token}\n`, {
    mode: 0o600,
  });
  let port = 0;
  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (!isLoopbackHost(req.headers.host, port)) {
      reply(421, {
        error: 'misdirected_request',
        message: `Host "${printable(req.headers.host ?? '')}" is not 127.0.0.1:${port}; the control endpoint answers loopback names only`,
      });
      return;
    }
    if (new URL(req.url ?? '/', 'http://127.0.0.1').pathname !== '/local/events') {
      reply(404, { error: 'not_found', message: 'events are accepted at POST /local/events' });
      return;
    }
    if (req.method !== 'POST') {
      reply(405, { error: 'method_not_allowed', message: 'use POST' }, { allow: 'POST' });
      return;
    }
    const auth = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (auth === undefined || !sameToken(auth, token)) {
      reply(
        401,
        {
          error: 'unauthorized',
          message: `send "Authorization: Bearer <token>" with the token in ${options.tokenFile} (sluice rollback and sluice alarm do)`,
        },
        { 'www-authenticate': 'Bearer realm="sluice-dev"' },
      );
      return;
    }
    const mediaType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (mediaType !== 'application/json') {
      reply(415, { error: 'unsupported_media_type', message: 'send content-type: application/json' });
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
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};

/** Reads the token `sluice dev` wrote; refuses one other users could read (it would not be secret). */
const readToken = async (workdir: string, fix: string): Promise<string> => {
  const file = controlTokenFile(workdir);
  const info = await stat(file).catch(() => undefined);
  if (info === undefined) {
    throw new BadInputError(`--workdir ${workdir}`, `has no control token (${file})`, fix);
  }
  if ((info.mode & 0o077) !== 0) {
    // Tighten it for next time, but do not trust a token others may have read.
    await chmod(file, 0o600).catch(() => undefined);
    throw new BadInputError(
      file,
      `is readable by other users (mode ${(info.mode & 0o777).toString(8)})`,
      'restart `sluice dev`, which writes a new token with mode 600',
    );
  }
  return (await readFile(file, 'utf8')).trim();
};

/** A `sluice` event as a local tool sends it to the control endpoint (`sluice rollback`, `sluice approve`). */
export const controlEnvelope = (
  detailType: 'Rollback Requested' | 'Rollout Approved',
  detail: unknown,
): Envelope => ({
  version: '0',
  id: crypto.randomUUID(),
  'detail-type': detailType,
  source: EVENT_SOURCE,
  account: '000000000000',
  time: new Date().toISOString(),
  region: 'local',
  resources: [],
  detail,
});

/** Sends events to a running `sluice dev` in `workdir`, with the token it wrote there. */
export const sendToDev = async (workdir: string, events: unknown[]): Promise<{ accepted: number }> => {
  const dir = path.resolve(workdir);
  const control = await readJson<{ url?: string }>(controlFile(dir), {});
  const fix = `start \`sluice dev --workdir ${workdir}\` first, or pass the --workdir it runs in`;
  if (!control.url) throw new BadInputError(`--workdir ${workdir}`, 'has no running `sluice dev`', fix);
  const token = await readToken(dir, fix);
  let response: Response;
  try {
    response = await fetch(`${control.url}/local/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ events }),
    });
  } catch {
    throw new BadInputError(`--workdir ${workdir}`, `\`sluice dev\` does not answer at ${control.url}`, fix);
  }
  const body = (await response.json().catch(() => ({}))) as { accepted?: number; message?: string };
  if (!response.ok) {
    throw new SluiceError(
      'REJECTED',
      `sluice dev refused the event: ${printable(body.message ?? response.status)}`,
      {
        data: { status: response.status },
      },
    );
  }
  return { accepted: body.accepted ?? 0 };
};
