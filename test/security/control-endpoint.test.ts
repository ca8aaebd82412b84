/**
 * The local edge of `sluice dev`: the control endpoint (sluice rollback / sluice alarm) and the git
 * server, both on 127.0.0.1, against a browser-shaped attacker (no token, a form POST, a DNS
 * rebinding Host) — real servers, real HTTP requests with the Host header set by hand.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControlServer,
  controlEnvelope,
  controlFile,
  controlTokenFile,
  sendToDev,
  startControlServer,
} from '../../shared/adapters/local/control-server.ts';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.ts';
import { type GitServer, initBareRepo, startGitServer } from '../../shared/adapters/local/git-server.ts';
import { cloudWatchAlarmEvent } from '../../shared/core/alarms.ts';

const exec = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/sluice.mjs');

/** One raw HTTP request, so the Host header is exactly what an attacker's browser would send. */
const request = (
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        headers: options.headers,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });

const alarm = () =>
  JSON.stringify({ events: [cloudWatchAlarmEvent({ id: randomUUID(), name: 'api-5xx', at: new Date() })] });

describe('the control endpoint of sluice dev', () => {
  let workdir: string;
  let bus: LocalEventBus;
  let control: ControlServer;
  let token: string;
  let events: string;
  let port: string;

  beforeAll(async () => {
    workdir = await mkdtemp(path.join(tmpdir(), 'sluice-control-'));
    bus = new LocalEventBus();
    control = await startControlServer(bus, { tokenFile: controlTokenFile(workdir) });
    await writeFile(controlFile(workdir), JSON.stringify({ url: control.url }));
    token = (
      await import('node:fs/promises').then((fs) => fs.readFile(controlTokenFile(workdir), 'utf8'))
    ).trim();
    events = `${control.url}/local/events`;
    port = new URL(control.url).port;
  });

  afterAll(async () => {
    await control.close();
    await rm(workdir, { recursive: true, force: true });
  });

  it('writes its token to a file only the user can read', async () => {
    // THEN state/control-token is mode 600 and holds 64 hex characters
    expect((await stat(controlTokenFile(workdir))).mode & 0o777).toBe(0o600);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('answers 401 without the bearer token, or with a wrong one, and publishes nothing', async () => {
    const before = bus.events.length;
    // WHEN an alarm is posted without a token, and with a guessed one
    const none = await request(events, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: alarm(),
    });
    const wrong = await request(events, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${'0'.repeat(64)}` },
      body: alarm(),
    });
    // THEN both are 401 and name the token file
    expect(none.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(JSON.parse(none.body).message).toContain('control-token');
    expect(bus.events.length).toBe(before);
  });

  it('answers 415 to a form or text/plain POST (a cross-site "simple" request), token or not', async () => {
    const before = bus.events.length;
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const answer = await request(events, {
        method: 'POST',
        headers: { 'content-type': type, authorization: `Bearer ${token}` },
        body: alarm(),
      });
      expect(answer.status, type).toBe(415);
    }
    expect(bus.events.length).toBe(before);
  });

  it.each([
    'attacker.example',
    `attacker.example:${'PORT'}`,
    '127.0.0.1.nip.io:PORT',
    '0.0.0.0:PORT',
    'localhost.attacker.example:PORT',
  ])('answers 421 to the rebinding Host %j, even with the token', async (hostTemplate) => {
    const before = bus.events.length;
    // GIVEN a page on a name that resolves to 127.0.0.1 (DNS rebinding)
    const host = hostTemplate.replace('PORT', port);
    // WHEN it posts a well-formed, authorised alarm THEN the Host alone refuses it
    const answer = await request(events, {
      method: 'POST',
      headers: { host, 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: alarm(),
    });
    expect(answer.status).toBe(421);
    expect(bus.events.length).toBe(before);
  });

  it('accepts the token, JSON and a loopback Host, as sluice alarm sends them', async () => {
    const before = bus.events.length;
    // WHEN the CLI's client sends an alarm with the token it reads from the workdir
    const sent = await sendToDev(workdir, [
      cloudWatchAlarmEvent({ id: randomUUID(), name: 'api-5xx', at: new Date() }),
    ]);
    // THEN it is on the bus; so is one sent to localhost:PORT by hand
    expect(sent.accepted).toBe(1);
    const byName = await request(events, {
      method: 'POST',
      headers: {
        host: `localhost:${port}`,
        'content-type': 'application/json; charset=utf-8',
        authorization: `Bearer ${token}`,
      },
      body: alarm(),
    });
    expect(byName.status).toBe(202);
    expect(bus.events.length).toBe(before + 2);
  });

  it('refuses a Rollout Approved whose detail is not the schema (a forged wave, app or commit), publishing nothing', async () => {
    const before = bus.events.length;
    const approval = {
      schemaVersion: 1,
      traceId: 'trace-0000-0000',
      repo: 'local/fleet',
      branch: 'main',
      commit: 'a'.repeat(40),
      occurredAt: new Date().toISOString(),
      app: 'api',
      wave: 'fleet',
    };
    // WHEN an approval names no commit id but a shell string, or leaves out the wave
    for (const detail of [
      { ...approval, commit: '$(rm -rf ~)' },
      { ...approval, wave: undefined },
    ]) {
      const sent = sendToDev(workdir, [controlEnvelope('Rollout Approved', detail)]);
      // THEN it is refused, naming the field, and nothing reaches the bus
      await expect(sent).rejects.toThrow(/Rollout Approved.*detail\.(commit|wave)/);
    }
    expect(bus.events.length).toBe(before);
    // AND a well-formed one is accepted
    await sendToDev(workdir, [controlEnvelope('Rollout Approved', approval)]);
    expect(bus.events.at(-1)?.['detail-type']).toBe('Rollout Approved');
  });

  it('sluice alarm (the real CLI) sends with the token from the workdir', async () => {
    const before = bus.events.length;
    // WHEN `sluice alarm` runs against the workdir
    const { stdout } = await exec(process.execPath, [
      BIN,
      'alarm',
      '--workdir',
      workdir,
      '--name',
      'api-5xx',
    ]);
    // THEN the alarm is on the bus
    expect(stdout).toContain('alarm api-5xx → ALARM sent');
    expect(bus.events.length).toBe(before + 1);
  });

  it('the client refuses a token file other users can read', async () => {
    // GIVEN the token file made world-readable
    await chmod(controlTokenFile(workdir), 0o644);
    // WHEN sluice alarm would send THEN it refuses, naming the file and the fix, and tightens it
    await expect(sendToDev(workdir, [])).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringMatching(
        /control-token: is readable by other users \(mode 644\).*restart `sluice dev`/,
      ),
    });
    expect((await stat(controlTokenFile(workdir))).mode & 0o777).toBe(0o600);
  });
});

describe('the git server of sluice dev', () => {
  let base: string;
  let server: GitServer;

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'sluice-git-edge-'));
    await writeFile(path.join(base, 'sluice.yaml'), 'kind: Fleet\n');
    await initBareRepo(path.join(base, 'repos'), 'fleet', base);
    server = await startGitServer({ root: path.join(base, 'repos') });
  });

  afterAll(async () => {
    await server.close();
    await rm(base, { recursive: true, force: true });
  });

  it('binds 127.0.0.1 and answers 421 to a rebinding Host, while git itself clones', async () => {
    // THEN the URL is loopback
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // WHEN a page on a rebound name asks for the refs THEN 421
    const rebound = await request(`${server.url}/fleet.git/info/refs?service=git-upload-pack`, {
      headers: { host: `evil.example:${server.port}` },
    });
    expect(rebound.status).toBe(421);
    // AND the real git client clones as before
    await exec('git', ['clone', '--quiet', `${server.url}/fleet.git`, path.join(base, 'clone')]);
    expect((await stat(path.join(base, 'clone', 'sluice.yaml'))).isFile()).toBe(true);
  });
});
