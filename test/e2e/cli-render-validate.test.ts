import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const example = path.join(repoRoot, 'examples/fleet');

/** Runs the real CLI on the pinned Node, as a user would. */
const sluice = (...args: string[]) => {
  const run = spawnSync(process.execPath, [path.join(repoRoot, 'bin/sluice.mjs'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
};

const temps: string[] = [];
const copyOfExample = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-fleet-'));
  temps.push(dir);
  cpSync(example, dir, { recursive: true });
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('sluice validate', () => {
  it('passes the example fleet as committed', () => {
    // GIVEN the example config repo WHEN validated THEN it is clean
    const run = sluice('validate', 'examples/fleet');
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^ok: 3 app\(s\), 4 render\(s\)/);
    expect(run.code).toBe(0);
  });

  it('fails no-privileged when the metrics-agent flag is flipped', () => {
    // GIVEN a copy of the example whose DaemonSet turns privileged on
    const dir = copyOfExample();
    const file = path.join(dir, 'apps/metrics-agent/daemonset.yaml');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('privileged: false');
    writeFileSync(file, text.replace('privileged: false', 'privileged: true'));
    // WHEN validated
    const run = sluice('validate', dir);
    // THEN exit 1 with a line naming the policy, the DaemonSet and its file
    expect(run.code).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^no-privileged {2}DaemonSet\/monitoring\/metrics-agent {2}apps\/metrics-agent\/daemonset\.yaml {2}container "node-exporter" .*\(fix: /,
    );
    // AND the json format carries the same violation
    const json = sluice('validate', dir, '--format', 'json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      violations: [{ policy: 'no-privileged', object: 'DaemonSet/monitoring/metrics-agent' }],
    });
  });

  it('exits 2 with the file, the problem and the fix for bad input', () => {
    // GIVEN a missing directory, a broken sluice.yaml and a broken manifest
    const missing = sluice('validate', path.join(tmpdir(), 'sluice-no-such-dir'));
    const badConfig = copyOfExample();
    writeFileSync(
      path.join(badConfig, 'sluice.yaml'),
      readFileSync(path.join(example, 'sluice.yaml'), 'utf8').replace('cloud: onprem', 'cloud: mainframe'),
    );
    const badManifest = copyOfExample();
    writeFileSync(
      path.join(badManifest, 'apps/guestbook/service.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: {}\n',
    );
    // WHEN validated THEN each exits 2 and says what to do
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/does not exist\. Fix: pass the path of a config repository/);
    const config = sluice('validate', badConfig);
    expect(config.code).toBe(2);
    expect(config.stderr).toMatch(/sluice\.yaml:\d+ at targets\[5\]\.cloud: .*Fix: use one of/);
    const manifest = sluice('validate', badManifest);
    expect(manifest.code).toBe(2);
    expect(manifest.stderr).toMatch(/apps\/guestbook\/service\.yaml:1: Service has no metadata\.name\. Fix:/);
  });
});

describe('sluice render', () => {
  it('prints each object of an app on a target as a YAML document with its source', () => {
    // GIVEN the api app on a prod target WHEN rendered
    const run = sluice('render', 'examples/fleet', '--app', 'api', '--target', 'prod-use1');
    expect(run.code).toBe(0);
    // THEN every document parses and carries a Source comment; the prod overlay applied
    const docs = parseAllDocuments(run.stdout);
    if (!Array.isArray(docs)) throw new Error('render printed no YAML documents');
    expect(docs.flatMap((d) => d.errors)).toEqual([]);
    const objects = docs.map((d) => d.toJS() as { kind: string; spec?: { replicas?: number } });
    expect(objects.map((o) => o.kind)).toEqual([
      'Deployment',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'ServiceAccount',
    ]);
    expect(objects[0]?.spec?.replicas).toBe(4);
    expect(run.stdout).toContain('# Source: app=api target=prod-use1 file=apps/api/base/deployment.yaml\n');
    expect(run.stdout).toContain('image: ghcr.io/acme/api:1.4.2');
  });

  it('renders every app for every selected target by default', () => {
    const run = sluice('render', 'examples/fleet');
    expect(run.code).toBe(0);
    // metrics-agent selects all 6 targets, api 5, guestbook 2
    expect(run.stdout.match(/^# Source: app=metrics-agent /gm)).toHaveLength(6 * 3);
    expect(run.stdout.match(/^# Source: app=guestbook target=staging-euw1 /gm)).toHaveLength(3);
    expect(run.stdout).toContain('image: ghcr.io/acme/api:1.5.0-rc.1');
  });

  it('exits 2 for an unknown app', () => {
    const run = sluice('render', 'examples/fleet', '--app', 'nope');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /--app nope: is not an app of this fleet\. Fix: use one of guestbook, api, metrics-agent/,
    );
  });
});
