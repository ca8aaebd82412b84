/**
 * The local HTTP edge in front of ingest: what API Gateway does in AWS, for `sluice dev` and tests.
 * It binds 127.0.0.1 only, reads at most MAX_WEBHOOK_BODY_BYTES + 1 bytes of a body, and never
 * lets an error's message reach the sender.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  edgeErrorResponse,
  type IngestRequest,
  type IngestResponse,
  MAX_WEBHOOK_BODY_BYTES,
} from '../../core/ingest.ts';

export interface IngestServerOptions {
  /** @default 0 (an ephemeral port; read it back from the result) */
  readonly port?: number;
  /** Only loopback: this server has no TLS and is meant for one machine. @default '127.0.0.1' */
  readonly host?: '127.0.0.1';
  readonly ingest: (request: IngestRequest) => Promise<IngestResponse>;
  /** Called once per answered request, e.g. for a dev log line. `path` carries no query string. */
  readonly onRequest?: (entry: RequestLogEntry) => void;
}

export interface RequestLogEntry {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
}

export interface IngestServer {
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops open connections, so it returns promptly. */
  close(): Promise<void>;
}

const WEBHOOK_PATH = /^\/webhooks\/([^/]+)\/?$/;
/** How long a socket gets to take a 413 before it is dropped; its unread body is never read. */
const LINGER_MS = 1000;

const send = (
  res: ServerResponse,
  status: number,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
};

/** The body, or undefined as soon as it is known to exceed `limit` (the rest is left unread). */
const readCapped = (req: IncomingMessage, limit: number): Promise<Buffer | undefined> =>
  new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });

const lowerCasedHeaders = (req: IncomingMessage): Record<string, string | undefined> => {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
};

const decodeProvider = (segment: string): string | undefined => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
};

const handle = async (
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  ingest: IngestServerOptions['ingest'],
): Promise<void> => {
  if (pathname === '/healthz') {
    if (req.method === 'GET' || req.method === 'HEAD') send(res, 200, { status: 'ok' });
    else send(res, 405, { error: 'method_not_allowed', message: 'use GET' }, { allow: 'GET, HEAD' });
    return;
  }
  const match = WEBHOOK_PATH.exec(pathname);
  const provider = match?.[1] === undefined ? undefined : decodeProvider(match[1]);
  if (provider === undefined) {
    send(res, 404, { error: 'not_found', message: 'webhooks are received at POST /webhooks/{provider}' });
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, { error: 'method_not_allowed', message: 'use POST' }, { allow: 'POST' });
    return;
  }
  const body = await readCapped(req, MAX_WEBHOOK_BODY_BYTES);
  if (body === undefined) {
    send(
      res,
      413,
      { error: 'payload_too_large', message: `body exceeds ${MAX_WEBHOOK_BODY_BYTES} bytes` },
      { connection: 'close' },
    );
    // Let the client read the answer, then drop the connection instead of draining the rest.
    res.once('finish', () => {
      req.socket.end();
      setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
    });
    return;
  }
  const result = await ingest({ provider, headers: lowerCasedHeaders(req), body });
  send(res, result.status, result.body, { ...result.headers });
};

export const startIngestServer = async (options: IngestServerOptions): Promise<IngestServer> => {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const started = performance.now();
    const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    res.once('finish', () => {
      try {
        options.onRequest?.({
          method: req.method ?? '?',
          path: pathname,
          status: res.statusCode,
          durationMs: Math.round(performance.now() - started),
        });
      } catch (error) {
        console.error(`ingest-server: onRequest failed: ${(error as Error).message}`);
      }
    });
    handle(req, res, pathname, options.ingest).catch((error: unknown) => {
      // The sender learns only the status; the message goes to stderr for the operator.
      console.error(`ingest-server: ${req.method} ${pathname} failed: ${(error as Error)?.message ?? error}`);
      if (res.headersSent) res.destroy();
      else {
        const answer = edgeErrorResponse(error);
        send(res, answer.status, answer.body);
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        for (const socket of sockets) socket.destroy();
      }),
  };
};
