/**
 * A Helm chart repository for tests: charts packaged with the layer's `helm package`, served
 * with index.yaml by a Node HTTP server on 127.0.0.1 that records every request.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { expect } from 'vitest';
import { ensureTools } from '../../shared/adapters/render-tools/layer.ts';

export const digestOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export const chartFiles = (name: string, version: string) => ({
  [`${name}/Chart.yaml`]: `apiVersion: v2\nname: ${name}\nversion: ${version}\n`,
  [`${name}/values.yaml`]: 'greeting: hello\n',
  [`${name}/templates/cm.yaml`]:
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  mode: "0644"\n',
});

/** `helm package` of a small chart: the archive a real repository serves. */
export const packageChart = async (work: string, name: string, version: string): Promise<Buffer> => {
  const { helm } = await ensureTools();
  const src = mkdtempSync(path.join(work, 'src-'));
  for (const [file, text] of Object.entries(chartFiles(name, version))) {
    mkdirSync(path.dirname(path.join(src, file)), { recursive: true });
    writeFileSync(path.join(src, file), text);
  }
  const run = spawnSync(helm, ['package', path.join(src, name), '-d', src], {
    encoding: 'utf8',
    env: { HOME: src, PATH: '/usr/bin:/bin' },
  });
  expect(run.status, run.stderr).toBe(0);
  return readFileSync(path.join(src, `${name}-${version}.tgz`));
};

/** A Helm chart repository on 127.0.0.1: `/<repo>/index.yaml` and `/<repo>/<file>`; counts requests. */
export interface ChartRepo {
  url: string;
  requests: string[];
  serve(
    repo: string,
    charts: { name: string; version: string; bytes: Buffer; url?: string; digest?: string }[],
  ): void;
  /** Answers `from` (a request path) with a 302 to `to`. */
  redirect(from: string, to: string): void;
  close(): Promise<void>;
}

export const startChartRepo = async (): Promise<ChartRepo> => {
  const files = new Map<string, Buffer>();
  const redirects = new Map<string, string>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const location = redirects.get(req.url ?? '');
    if (location) {
      res.writeHead(302, { location }).end();
      return;
    }
    const body = files.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    requests,
    serve(repo, charts) {
      const entries: Record<string, unknown[]> = {};
      for (const c of charts) {
        const file = `${c.name}-${c.version}.tgz`;
        files.set(`/${repo}/${file}`, c.bytes);
        entries[c.name] = entries[c.name] ?? [];
        entries[c.name]!.push({
          apiVersion: 'v2',
          name: c.name,
          version: c.version,
          urls: [c.url ?? file],
          digest: (c.digest ?? digestOf(c.bytes)).replace('sha256:', ''),
        });
      }
      files.set(`/${repo}/index.yaml`, Buffer.from(JSON.stringify({ apiVersion: 'v1', entries })));
    },
    redirect(from, to) {
      redirects.set(from, to);
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
};
