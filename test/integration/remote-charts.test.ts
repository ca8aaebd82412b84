/**
 * Issue 17, item 5: remote charts. A chart from a Helm HTTP repository (a real Node server on
 * 127.0.0.1 serving index.yaml and the .tgz `helm package` made) and from a real OCI registry
 * (Debian's docker-registry on 127.0.0.1, the chart pushed with the layer's helm) is fetched
 * once, checked against the digest in sluice.yaml, cached by it and rendered offline after.
 * Hostile repositories: a chart URL on another host, a changed digest, archives with `..`
 * paths, symlinks or a huge unpacked size, a download over the bound.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTools } from '../../shared/adapters/render-tools/layer.ts';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { renderApp } from '../../shared/core/render.ts';
import type { RenderSpec } from '../../shared/schemas/events.ts';
import { type Sandbox, sandbox, specOf } from '../security/render-support.ts';
import { type ChartRepo, chartFiles, digestOf, packageChart, startChartRepo } from '../support/chart-repo.ts';

const work = mkdtempSync(path.join(tmpdir(), 'sluice-remote-charts-'));

/** A ustar archive of the given entries (type '0' file, '2' symlink), gzipped. */
const tgz = (
  entries: { name: string; body?: string | Buffer; type?: '0' | '2'; link?: string }[],
): Buffer => {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const header = Buffer.alloc(512);
    header.write(e.name, 0, 100, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write(e.type ?? '0', 156);
    if (e.link) header.write(e.link, 157, 100);
    header.write('ustar\x0000', 257, 'latin1');
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
};

const boxes: Sandbox[] = [];
let repo: ChartRepo;
let good: Buffer;

beforeAll(async () => {
  repo = await startChartRepo();
  good = await packageChart(work, 'hello', '1.2.3');
});
afterAll(async () => {
  await repo.close();
  for (const b of boxes) b.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const appSpec = (helm: RenderSpec['helm']): RenderSpec => specOf('web', 'apps/web', { kind: 'helm', helm });

/** Renders `helm` with a fresh renderer over `cacheDir`; the error message when it fails. */
const render = async (helm: RenderSpec['helm'], cacheDir: string, limits = {}) => {
  const b = sandbox();
  boxes.push(b);
  b.write({ 'apps/web/values-prod.yaml': 'greeting: bonjour\n' });
  const renderer = createToolRenderer({ chartCacheDir: cacheDir, ...limits });
  try {
    const objects = await renderApp(
      b.tree(),
      { ...appSpec(helm), valueFiles: ['values-prod.yaml'] },
      renderer,
    );
    return { objects, error: undefined };
  } catch (error) {
    return { objects: [], error: (error as Error).message };
  }
};

const helmOf = (url: string, name: string, version: string, digest?: string): RenderSpec['helm'] => ({
  repo: url,
  name,
  version,
  includeCrds: true,
  ...(digest ? { digest } : {}),
});

describe('a chart from a Helm HTTP repository', () => {
  it('renders offline after its first fetch, from the archive cached by its digest', async () => {
    repo.serve('stable', [{ name: 'hello', version: '1.2.3', bytes: good }]);
    const cache = path.join(work, 'cache-http');
    const url = `${repo.url}/stable`;
    // GIVEN a chart named without a digest WHEN rendered THEN it fails, reporting the digest to record
    const first = await render(helmOf(url, 'hello', '1.2.3'), cache);
    expect(first.error).toContain(`has no recorded digest; the repository serves digest ${digestOf(good)}`);
    expect(first.error).toContain(`Fix: add digest: ${digestOf(good)} to the app's helm in sluice.yaml`);
    // WHEN the digest is recorded THEN it renders the chart with the repo's values file
    const fetched = await render(helmOf(url, 'hello', '1.2.3', digestOf(good)), cache);
    expect(fetched.error).toBeUndefined();
    expect(fetched.objects.map((o) => o.object.metadata.name)).toEqual(['web-cm']);
    expect((fetched.objects[0]!.object as unknown as { data: Record<string, string> }).data).toEqual({
      greeting: 'bonjour',
      mode: '0644',
    });
    expect(readdirSync(cache)).toEqual([`sha256-${digestOf(good).slice(7)}.tgz`]);
    // AND WHEN the repository is gone THEN a second render makes no request and gives the same objects
    const before = repo.requests.length;
    const offline = await render(
      helmOf('http://127.0.0.1:9/stable', 'hello', '1.2.3', digestOf(good)),
      cache,
    );
    expect(offline.error).toBeUndefined();
    expect(offline.objects).toEqual(fetched.objects);
    expect(repo.requests.length).toBe(before);
  });

  it('refuses a changed digest for the same version', async () => {
    // GIVEN the repository now serves other content under version 1.2.3
    const other = await packageChart(work, 'changed', '1.2.3');
    repo.serve('moved', [{ name: 'changed', version: '1.2.3', bytes: other }]);
    const recorded = digestOf(good);
    const { error } = await render(
      helmOf(`${repo.url}/moved`, 'changed', '1.2.3', recorded),
      path.join(work, 'c2'),
    );
    expect(error).toContain(
      `has digest ${digestOf(other)}, not the recorded ${recorded}: the same version changed content`,
    );
    expect(existsSync(path.join(work, 'c2'))).toBe(false);
  });

  it('refuses an archive that differs from the digest the index advertises', async () => {
    repo.serve('lying', [
      { name: 'hello', version: '1.2.3', bytes: good, digest: `sha256:${'0'.repeat(64)}` },
    ]);
    const { error } = await render(
      helmOf(`${repo.url}/lying`, 'hello', '1.2.3', digestOf(good)),
      path.join(work, 'c3'),
    );
    expect(error).toContain('but the repository index says sha256:0000');
  });

  it('refuses a chart URL on a host that is not the repository and not allowed', async () => {
    // GIVEN an index whose chart URL points at another host (localhost is another origin)
    const port = new URL(repo.url).port;
    repo.serve('elsewhere', [
      {
        name: 'hello',
        version: '1.2.3',
        bytes: good,
        url: `http://localhost:${port}/stable/hello-1.2.3.tgz`,
      },
    ]);
    const before = repo.requests.length;
    const { error } = await render(
      helmOf(`${repo.url}/elsewhere`, 'hello', '1.2.3', digestOf(good)),
      path.join(work, 'c4'),
    );
    // THEN it is refused before the archive is requested
    expect(error).toContain(`points at http://localhost:${port}, which is not the chart repository's host`);
    expect(repo.requests.slice(before)).toEqual(['/elsewhere/index.yaml']);
    // AND WHEN the operator allows that host THEN it renders
    const allowed = await render(
      helmOf(`${repo.url}/elsewhere`, 'hello', '1.2.3', digestOf(good)),
      path.join(work, 'c4'),
      {
        allowedChartHosts: [`localhost:${port}`],
      },
    );
    expect(allowed.error).toBeUndefined();
  });

  it('refuses a redirect from the repository to another host', async () => {
    // GIVEN an archive URL on the repository host that redirects elsewhere (localhost is another origin)
    const port = new URL(repo.url).port;
    repo.serve('hop', [{ name: 'hello', version: '1.2.3', bytes: good }]);
    repo.redirect('/hop/hello-1.2.3.tgz', `http://localhost:${port}/stable/hello-1.2.3.tgz`);
    const before = repo.requests.length;
    const { error } = await render(
      helmOf(`${repo.url}/hop`, 'hello', '1.2.3', digestOf(good)),
      path.join(work, 'c8'),
    );
    // THEN the redirect is not followed
    expect(error).toContain(
      `redirects to http://localhost:${port}, which is not the chart repository's host`,
    );
    expect(repo.requests.slice(before)).toEqual(['/hop/index.yaml', '/hop/hello-1.2.3.tgz']);
  });

  it('refuses archives with ../ paths, absolute paths or symlinks, and never caches them', async () => {
    const chart = chartFiles('evil', '0.1.0');
    const base = Object.entries(chart).map(([name, body]) => ({ name, body }));
    const cases: [string, Buffer, string][] = [
      [
        'dotdot',
        tgz([...base, { name: 'evil/../../escape.yaml', body: 'x' }]),
        '"evil/../../escape.yaml", which leaves the chart',
      ],
      [
        'absolute',
        tgz([...base, { name: '/etc/cron.d/x', body: 'x' }]),
        '"/etc/cron.d/x", which leaves the chart',
      ],
      [
        'symlink',
        tgz([...base, { name: 'evil/templates/link.yaml', type: '2', link: '/etc/passwd' }]),
        'holds a symlink ("evil/templates/link.yaml")',
      ],
    ];
    for (const [name, bytes, message] of cases) {
      repo.serve(name, [{ name: 'evil', version: '0.1.0', bytes }]);
      const cache = path.join(work, `c-${name}`);
      const { error } = await render(helmOf(`${repo.url}/${name}`, 'evil', '0.1.0', digestOf(bytes)), cache);
      expect(error).toContain(message);
      expect(existsSync(cache)).toBe(false);
    }
  });

  it('refuses a huge archive: over the download bound, or unpacking past the bound', async () => {
    const chart = Object.entries(chartFiles('big', '0.1.0')).map(([name, body]) => ({ name, body }));
    // A gzip bomb: 8 MiB of zeros compresses to a few KiB.
    const bomb = tgz([...chart, { name: 'big/files/zeros', body: Buffer.alloc(8 * 1024 * 1024) }]);
    repo.serve('bomb', [{ name: 'big', version: '0.1.0', bytes: bomb }]);
    const unpacked = await render(
      helmOf(`${repo.url}/bomb`, 'big', '0.1.0', digestOf(bomb)),
      path.join(work, 'c5'),
      {
        maxChartUnpackedBytes: 1024 * 1024,
      },
    );
    expect(unpacked.error).toContain(`unpacks to more than ${1024 * 1024} bytes`);
    const download = await render(
      helmOf(`${repo.url}/bomb`, 'big', '0.1.0', digestOf(bomb)),
      path.join(work, 'c6'),
      {
        maxChartBytes: 1024,
      },
    );
    expect(download.error).toContain('is larger than 1024 bytes, the limit of one chart download');
  });
});

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createNetServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

describe('a chart from an OCI registry (docker-registry on 127.0.0.1)', () => {
  let registry: ChildProcess | undefined;
  let port = 0;
  beforeAll(async () => {
    // Debian's registry, installed by the repo's own script on a fresh machine (never skipped).
    const installed = spawnSync('bash', [path.resolve('scripts/registry/ensure-docker-registry.sh')], {
      encoding: 'utf8',
    });
    if (installed.status !== 0) throw new Error(`docker-registry is needed: ${installed.stderr}`);
    const REGISTRY = installed.stdout.trim();
    port = await freePort();
    const dir = mkdtempSync(path.join(work, 'registry-'));
    writeFileSync(
      path.join(dir, 'config.yml'),
      `version: 0.1\nlog: { level: error }\nstorage: { filesystem: { rootdirectory: ${dir}/data } }\nhttp: { addr: 127.0.0.1:${port} }\n`,
    );
    registry = spawn(REGISTRY, ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const up = await fetch(`http://127.0.0.1:${port}/v2/`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('docker-registry did not start');
  }, 300_000);
  afterAll(() => {
    if (registry?.pid && registry.exitCode === null && registry.signalCode === null)
      process.kill(registry.pid);
  });

  it('renders a pushed chart by digest, then offline with the registry stopped', async () => {
    // GIVEN a chart pushed with helm push
    const { helm } = await ensureTools();
    const dir = mkdtempSync(path.join(work, 'push-'));
    writeFileSync(path.join(dir, 'hello-1.2.3.tgz'), good);
    const push = spawnSync(
      helm,
      ['push', path.join(dir, 'hello-1.2.3.tgz'), `oci://127.0.0.1:${port}/charts`, '--plain-http'],
      {
        encoding: 'utf8',
        env: { HOME: dir, PATH: '/usr/bin:/bin' },
      },
    );
    expect(push.status, push.stderr).toBe(0);
    const cache = path.join(work, 'cache-oci');
    const oci = `oci://127.0.0.1:${port}/charts`;
    // WHEN rendered with the digest helm packaged THEN it renders
    const fetched = await render(helmOf(oci, 'hello', '1.2.3', digestOf(good)), cache);
    expect(fetched.error).toBeUndefined();
    expect(fetched.objects.map((o) => o.object.metadata.name)).toEqual(['web-cm']);
    // AND a wrong digest is refused
    const wrong = await render(
      helmOf(oci, 'hello', '1.2.3', `sha256:${'1'.repeat(64)}`),
      path.join(work, 'c7'),
    );
    expect(wrong.error).toContain('the same version changed content');
    // AND WHEN the registry is stopped THEN the cached chart still renders
    process.kill(registry!.pid!);
    await new Promise((r) => registry!.once('exit', r));
    const offline = await render(helmOf(oci, 'hello', '1.2.3', digestOf(good)), cache);
    expect(offline.error).toBeUndefined();
    expect(offline.objects).toEqual(fetched.objects);
  });
});
