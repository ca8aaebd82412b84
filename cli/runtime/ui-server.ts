/**
 * The fleet dashboard (`sluice dev` prints its `ui:` URL; `sluice ui [--aws]`): a page and a small
 * JSON API over the same read side as `sluice status` and `sluice trace` (a Reader: the ledger and
 * the event record), live by server-sent events, with rollback through the same request builder as
 * `sluice rollback`. Everything shown comes from pushes and is escaped by the page, never trusted.
 *
 * Actions are guarded like the control endpoint: a loopback Host (no DNS rebinding), an Origin
 * equal to the dashboard's own (no cross-site request), the control token in `x-sluice-token`
 * (handed to the page in a meta tag, which another origin cannot read) and a JSON body. With
 * `readOnly` there are no actions at all.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlTokenFile, isLoopbackHost, readBody } from '../../shared/adapters/local/control-server.ts';
import type { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { FileHistory } from '../../shared/adapters/local/history.ts';
import { systemClock } from '../../shared/adapters/local/memory.ts';
import { statusRows } from '../../shared/core/history.ts';
import { manualRollbackRequests } from '../../shared/core/rollback.ts';
import { approvalRequests } from '../../shared/core/rollout.ts';
import { SluiceError } from '../../shared/errors.ts';
import type { Ledger, RolloutLedger } from '../../shared/ports/index.ts';
import type { RollbackRequested, RolloutApproved } from '../../shared/schemas/events.ts';
import type { Reader } from '../operate.ts';
import { describeEvent } from '../progress.ts';
import { workdirPaths } from './local-pipeline.ts';

const UI_DIR = fileURLToPath(new URL('../../ui', import.meta.url));
const MAX_BODY = 16 * 1024;

export interface UiServerOptions {
  /**
   * The ledger and event record, as `sluice status` and `sluice trace` read them; a function when
   * each read must open them afresh (another process writes the workdir's files).
   */
  readonly reader: Reader | (() => Promise<Reader>);
  /** Pushes a change notice for every event as it happens (local bus); without it the read side is polled. */
  readonly subscribe?: (listener: () => void) => () => void;
  /** @default 5000 when there is no `subscribe` */
  readonly pollMs?: number;
  /** Publishes rollback requests (the local bus, `sluice dev`'s control endpoint, or the stack's bus). */
  readonly rollback?: (requests: readonly RollbackRequested[]) => Promise<void>;
  /** The secret an action must carry; the page gets it in a meta tag. Required unless readOnly. */
  readonly token?: string;
  readonly readOnly?: boolean;
  /** Publishes Rollout Approved events (`sluice approve`'s requests); no approve action without it. */
  readonly approve?: (approvals: readonly RolloutApproved[]) => Promise<void>;
  /** Who the page acts as in rollback requests. */
  readonly user?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
}

export interface UiServer {
  readonly url: string;
  close(): Promise<void>;
}

let bundled: Promise<string> | undefined;

/** ui/main.ts bundled once per process by esbuild (a few ms): no build step, no CDN, works offline. */
export const bundleUi = (): Promise<string> => {
  bundled ??= import('esbuild').then(async (esbuild) => {
    const result = await esbuild.build({
      entryPoints: [path.join(UI_DIR, 'main.ts')],
      bundle: true,
      minify: true,
      format: 'esm',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    return result.outputFiles[0]?.text ?? '';
  });
  return bundled;
};

const sameToken = (given: string | undefined, expected: string): boolean => {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

const escapeAttr = (s: string) => s.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (token: string | undefined, readOnly: boolean) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="sluice-token" content="${readOnly || !token ? '' : escapeAttr(token)}">
<meta name="sluice-read-only" content="${readOnly}">
<title>Sluice fleet</title>
<link rel="stylesheet" href="/ui.css">
</head>
<body>
<header><a href="#/" class="brand">Sluice</a><nav aria-label="views"><a href="#/">Fleet</a></nav><span id="live" role="status">connecting…</span></header>
<main id="view" tabindex="-1"><p>Loading…</p></main>
<script type="module" src="/ui.js"></script>
</body>
</html>
`;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const fleetOf = async (reader: Reader) => {
  const [deployments, newest] = await Promise.all([reader.ledger.listDeployments(), reader.history.newest()]);
  return {
    rows: statusRows(deployments, newest.targets).map((r) => ({
      app: r.app,
      target: r.target,
      state: r.deployed?.state ?? 'NotDeployed',
      ...(r.deployed
        ? {
            commit: r.deployed.commit,
            updatedAt: r.deployed.updatedAt,
            generation: r.deployed.generation,
            ...(r.deployed.reason ? { reason: r.deployed.reason } : {}),
            ...(r.deployed.lastKnownGood ? { lastKnownGood: r.deployed.lastKnownGood.commit } : {}),
            history: r.deployed.history.slice(-20),
          }
        : {}),
      ...(r.newest
        ? {
            newest: {
              commit: r.newest.commit,
              outcome: r.newest.outcome,
              at: r.newest.at,
              ...(r.newest.reason ? { reason: r.newest.reason } : {}),
            },
          }
        : {}),
    })),
    branches: newest.branches,
  };
};

type FleetRowOut = Awaited<ReturnType<typeof fleetOf>>['rows'][number];

/**
 * The matrix's /api/fleet answer, column-indexed: each app, target, state, outcome, reason and
 * commit once in a table, and per (app, target) 8 numbers (ui/matrix.ts CELL_STRIDE, in the order below)
 * (-1: none). 50 apps × 1,000 targets with 50,000 distinct commits: 3.9 MB instead of 8.8 MB
 * (bench/ui-matrix.ts). History and last known good stay on `/api/fleet?app=NAME`, the app
 * page's full rows.
 */
export const compactFleet = (rows: readonly FleetRowOut[]) => {
  const table = () => {
    const list: string[] = [];
    const index = new Map<string, number>();
    const of = (s: string | undefined) => {
      if (s === undefined) return -1;
      let i = index.get(s);
      if (i === undefined) {
        i = list.push(s) - 1;
        index.set(s, i);
      }
      return i;
    };
    return { list, of };
  };
  const [apps, targets, words, commits] = [table(), table(), table(), table()];
  const cells: number[] = [];
  for (const r of rows) {
    cells.push(
      apps.of(r.app),
      targets.of(r.target),
      words.of(r.state),
      commits.of(r.commit),
      r.updatedAt ? Math.round(Date.parse(r.updatedAt) / 1000) : -1,
      commits.of(r.newest?.commit),
      words.of(r.newest?.outcome),
      words.of(r.newest?.reason),
    );
  }
  return { apps: apps.list, targets: targets.list, words: words.list, commits: commits.list, cells };
};

export const startUiServer = async (options: UiServerOptions): Promise<UiServer> => {
  const source = options.reader;
  const reader = async () => (typeof source === 'function' ? source() : source);
  const readOnly = options.readOnly === true || options.token === undefined;
  let port = 0;
  const clients = new Set<ServerResponse>();
  let version = 0;
  const notify = () => {
    version += 1;
    for (const res of clients) res.write(`event: change\ndata: ${version}\n\n`);
  };
  // Local: every bus event, coalesced per tick. Remote: the read side polled, a change when it differs.
  let pending = false;
  const unsubscribe = options.subscribe?.(() => {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      notify();
    }, 50);
  });
  let lastSeen = '';
  const poll = options.subscribe
    ? undefined
    : setInterval(() => {
        if (clients.size === 0) return;
        reader()
          .then(fleetOf)
          .then((fleet) => {
            const seen = JSON.stringify(fleet);
            if (seen !== lastSeen) {
              lastSeen = seen;
              notify();
            }
          })
          .catch(() => undefined);
      }, options.pollMs ?? 5000);
  poll?.unref();
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const act = async (req: IncomingMessage, res: ServerResponse, route: string) => {
    if (readOnly) return json(res, 403, { error: 'read_only', message: 'this dashboard is read-only' });
    const origin = req.headers.origin;
    if (origin !== `http://${req.headers.host}`) {
      return json(res, 403, {
        error: 'cross_origin',
        message: 'actions are accepted from the dashboard page only',
      });
    }
    if (!sameToken(req.headers['x-sluice-token'] as string | undefined, options.token ?? '')) {
      return json(res, 401, {
        error: 'unauthorized',
        message: 'missing or wrong x-sluice-token; reload the page',
      });
    }
    if ((req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() !== 'application/json') {
      return json(res, 415, {
        error: 'unsupported_media_type',
        message: 'send content-type: application/json',
      });
    }
    const text = await readBody(req, MAX_BODY);
    let body: { app?: unknown; target?: unknown; wave?: unknown };
    try {
      body = JSON.parse(text ?? '');
    } catch {
      return json(res, 400, { error: 'bad_input', message: 'body is not JSON' });
    }
    if (typeof body.app !== 'string' || (body.target !== undefined && typeof body.target !== 'string')) {
      return json(res, 400, { error: 'bad_input', message: 'send {"app": string, "target"?: string}' });
    }
    const by = options.user ?? 'dashboard';
    if (route === 'approve') {
      if (!options.approve)
        return json(res, 404, { error: 'not_found', message: 'approve is not available' });
      if (typeof body.wave !== 'string') {
        return json(res, 400, { error: 'bad_input', message: 'send {"app": string, "wave": string}' });
      }
      // The same request builder and checks as `sluice approve`.
      const approvals = await approvalRequests(
        (await reader()).ledger,
        { app: body.app, wave: body.wave, by },
        systemClock,
      );
      await options.approve(approvals);
      return json(res, 202, {
        approved: approvals.map((a) => ({ app: a.app, wave: a.wave, commit: a.commit })),
      });
    }
    if (!options.rollback)
      return json(res, 404, { error: 'not_found', message: 'rollback is not available' });
    // The same request builder and checks as `sluice rollback`.
    const requests = await manualRollbackRequests(
      (await reader()).ledger,
      { app: body.app, by, ...(body.target ? { target: body.target } : {}) },
      systemClock,
    );
    await options.rollback(requests);
    return json(res, 202, {
      requested: requests.map((r) => ({ app: r.app, targets: r.targets, commit: r.commit })),
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!isLoopbackHost(req.headers.host, port)) {
      return json(res, 421, { error: 'misdirected_request', message: `open http://127.0.0.1:${port}/` });
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = url.pathname;
    if (req.method === 'POST' && (route === '/api/rollback' || route === '/api/approve')) {
      return act(req, res, route.slice(5));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return json(res, 405, { error: 'method_not_allowed', message: 'use GET' });
    }
    if (route === '/') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' });
      return res.end(page(options.token, readOnly));
    }
    if (route === '/ui.js') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/javascript; charset=utf-8' });
      return res.end(await bundleUi());
    }
    if (route === '/ui.css') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/css; charset=utf-8' });
      return res.end(await readFile(path.join(UI_DIR, 'style.css')));
    }
    if (route === '/api/fleet') {
      const fleet = await fleetOf(await reader());
      // Rollouts wave by wave, where the ledger keeps them (the held apply requests stay on the server).
      const ledger = (await reader()).ledger as Ledger & Partial<RolloutLedger>;
      const rollouts = ((await ledger.listRollouts?.()) ?? []).map(({ held: _held, ...rollout }) => rollout);
      const app = url.searchParams.get('app');
      return json(res, 200, {
        ...(app === null
          ? { matrix: compactFleet(fleet.rows), branches: fleet.branches }
          : { ...fleet, rows: fleet.rows.filter((r) => r.app === app) }),
        rollouts,
        where: (await reader()).where,
        readOnly,
        actions: { rollback: !readOnly && !!options.rollback, approve: !readOnly && !!options.approve },
      });
    }
    const commit = /^\/api\/commit\/([0-9a-f]{4,40})$/.exec(route)?.[1];
    if (commit) {
      const events = await (await reader()).history.traceOf(commit);
      return json(res, 200, {
        commit,
        events: events.map((e) => ({
          type: e['detail-type'],
          time: (e.detail as { occurredAt?: string }).occurredAt ?? e.time,
          lines: describeEvent(e),
        })),
      });
    }
    if (route.startsWith('/api/commit/')) {
      return json(res, 400, { error: 'bad_input', message: 'a commit is 4 to 40 lower-case hex characters' });
    }
    if (route === '/api/events') {
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/event-stream',
        connection: 'keep-alive',
      });
      res.write(`retry: 1000\nevent: hello\ndata: ${version}\n\n`);
      clients.add(res);
      req.once('close', () => clients.delete(res));
      return;
    }
    return json(res, 404, { error: 'not_found', message: 'no such page' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const known = error instanceof SluiceError;
      if (!res.headersSent) {
        json(res, known ? 400 : 500, {
          error: known ? error.code.toLowerCase() : 'internal',
          message: known ? error.message : 'the dashboard could not answer',
        });
      } else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe?.();
        if (poll) clearInterval(poll);
        clearInterval(heartbeat);
        for (const res of clients) res.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};

/**
 * The dashboard of `sluice dev`: the workdir's ledger and event log (what `sluice status` reads),
 * a change notice per bus event, rollback onto the local bus (what the control endpoint accepts),
 * and the control token `sluice dev` just wrote as the action token.
 */
export const startDevUi = async (
  pipeline: { bus: LocalEventBus; ledger: Ledger },
  workdir: string,
  options: { uiPort?: number; uiReadOnly?: boolean },
): Promise<UiServer> =>
  startUiServer({
    // The pipeline's own ledger: it caches the file, so a second instance would read it stale.
    reader: {
      ledger: pipeline.ledger,
      history: new FileHistory(workdirPaths(workdir).events),
      where: workdir,
    },
    subscribe: (listener) => pipeline.bus.subscribe(listener),
    rollback: (requests) =>
      pipeline.bus.publish(requests.map((detail) => ({ detailType: 'Rollback Requested' as const, detail }))),
    approve: (approvals) =>
      pipeline.bus.publish(approvals.map((detail) => ({ detailType: 'Rollout Approved' as const, detail }))),
    token: (await readFile(controlTokenFile(workdir), 'utf8')).trim(),
    user: userInfo().username,
    ...(options.uiReadOnly ? { readOnly: true } : {}),
    port: options.uiPort ?? 0,
  });
