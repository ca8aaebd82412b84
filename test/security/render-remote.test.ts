/**
 * Issue 11, item 5: a render follows from the commit alone. Every spelling of a remote source
 * kustomize or helm would fetch — any scheme in any case, `file:`, `git::`, `ssh:`, scp-like,
 * `//host`, a bare host, `?ref=` — is refused in kustomize resources/components/bases and helm
 * dependencies with a RenderError naming the file and the entry. Real tools, throwaway repos.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createToolRenderer } from '../../shared/adapters/render-tools/tool-renderer.ts';
import { isRemoteRef, renderApp, renderInputs } from '../../shared/core/render.ts';
import { configMap, type Sandbox, sandbox, specOf } from './render-support.ts';

const renderer = createToolRenderer();
const boxes: Sandbox[] = [];
afterAll(() => {
  for (const b of boxes) b.cleanup();
});

const failureOf = async (files: Record<string, string>, appPath: string): Promise<string> => {
  const b = sandbox();
  boxes.push(b);
  b.write(files);
  try {
    await renderApp(b.tree(), specOf('web', appPath), renderer);
  } catch (error) {
    return (error as Error).message;
  }
  return 'rendered';
};

const SPELLINGS = [
  'https://github.com/acme/base//deploy?ref=v1',
  'HTTPS://raw.example.com/x.yaml',
  'Http://example.com/x.yaml',
  'file:///etc/kubernetes',
  'FILE:/etc',
  'git::https://example.com/acme/base.git',
  'ssh://git@example.com/acme/base.git',
  'git@github.com:acme/base.git',
  'deploy@example.com:acme/base',
  '//example.com/acme/base',
  'github.com/acme/base/deploy',
  'GitHub.com/acme/base',
  'gitlab.com/acme/base',
  'example.com/acme/base',
  'base?ref=main',
  'gh:acme/base',
];

describe('kustomize remote sources', () => {
  for (const field of ['resources', 'components', 'bases']) {
    it(`refuses every remote spelling in ${field}, naming the kustomization and the entry`, async () => {
      for (const ref of SPELLINGS) {
        // GIVEN a kustomization whose ${field} has a remote entry next to a local one
        const message = await failureOf(
          {
            'app/cm.yaml': configMap('local'),
            'app/kustomization.yaml': `${field}:\n  - cm.yaml\n  - ${JSON.stringify(ref)}\n`,
          },
          'app',
        );
        // WHEN rendered THEN it fails before kustomize fetches anything, naming file and entry
        expect(message).toBe(
          `app/kustomization.yaml: refers to the remote resource ${JSON.stringify(ref)}, which would be fetched at render time. Fix: vendor it into the repository and refer to it by a relative path: a render must follow from the commit alone`,
        );
      }
    });
  }

  it('refuses helmCharts and a remote base reached through a local overlay', async () => {
    const charts = await failureOf(
      {
        'app/kustomization.yaml':
          'helmCharts:\n  - name: redis\n    repo: https://charts.example.com\n    version: 1.0.0\n',
      },
      'app',
    );
    expect(charts).toMatch(/^app\/kustomization\.yaml: inflates Helm charts/);
    const nested = await failureOf(
      {
        'app/overlay/kustomization.yaml': 'resources: [../base]\n',
        'app/base/kustomization.yaml': 'resources: ["git@github.com:acme/x.git"]\n',
      },
      'app/overlay',
    );
    expect(nested).toMatch(
      /^app\/base\/kustomization\.yaml: refers to the remote resource "git@github\.com:acme\/x\.git"/,
    );
  });

  it('renders a local file or directory whose name merely looks like a host', async () => {
    // GIVEN a local file and a local base named like hosts, both in the commit
    const message = await failureOf(
      {
        'app/web.v1/cm.yaml': configMap('dotted'),
        'app/example.com/base/cm.yaml': configMap('hosty'),
        'app/example.com/base/kustomization.yaml': 'resources: [cm.yaml]\n',
        'app/kustomization.yaml': 'resources: [web.v1/cm.yaml, example.com/base]\n',
      },
      'app',
    );
    // WHEN rendered THEN kustomize builds both from the commit
    expect(message).toBe('rendered');
  });
});

describe('helm dependencies', () => {
  const chart = (file: string, deps: string) => ({
    'chart/Chart.yaml': `apiVersion: ${file === 'requirements.yaml' ? 'v1' : 'v2'}\nname: chart\nversion: 0.1.0\n${file === 'Chart.yaml' ? deps : ''}`,
    ...(file === 'requirements.yaml' ? { 'chart/requirements.yaml': deps } : {}),
    'chart/templates/cm.yaml': configMap('from-chart'),
  });

  for (const file of ['Chart.yaml', 'requirements.yaml']) {
    it(`refuses an unvendored remote dependency in ${file}, naming the file and the entry`, async () => {
      for (const repository of [
        'https://charts.example.com',
        'OCI://registry.example.com/charts',
        '@bitnami',
        'git::ssh://x/y',
      ]) {
        const deps = `dependencies:\n  - name: redis\n    version: 1.2.3\n    repository: ${JSON.stringify(repository)}\n`;
        const message = await failureOf(chart(file, deps), 'chart');
        expect(message).toBe(
          `chart/${file}: dependencies[0] ("redis", repository ${JSON.stringify(repository)}) is a remote chart that is not vendored under chart/charts/, so it would be fetched at render time. Fix: run \`helm dependency build\` and commit the charts/ directory, or point repository at file://<relative path> inside the repository`,
        );
      }
    });
  }

  it('refuses a file:// dependency outside the repository in any case', async () => {
    const deps = 'dependencies:\n  - name: up\n    version: 0.1.0\n    repository: FILE://../../outside\n';
    expect(await failureOf(chart('Chart.yaml', deps), 'chart')).toMatch(
      /^chart\/Chart\.yaml: dependency dependencies\[0\] .* "\.\.\/\.\.\/outside" is outside the repository/,
    );
  });

  it('accepts a remote dependency vendored under charts/ (helm template fetches nothing)', async () => {
    const deps =
      'dependencies:\n  - name: sub\n    version: 0.1.0\n    repository: https://charts.example.com\n';
    const files = {
      ...chart('Chart.yaml', deps),
      'chart/charts/sub/Chart.yaml': 'apiVersion: v2\nname: sub\nversion: 0.1.0\n',
      'chart/charts/sub/templates/cm.yaml': configMap('from-sub'),
    };
    expect(await failureOf(files, 'chart')).toBe('rendered');
  });
});

describe('isRemoteRef over generated URL spellings', () => {
  it('catches every scheme, case, scp-like and network-path spelling (fixed seed, bounded)', async () => {
    const scheme = fc.constantFrom(
      'http',
      'https',
      'ssh',
      'git',
      'file',
      'git::https',
      'git::ssh',
      's3',
      'hg',
      'oci',
      'gh',
    );
    const caseOf = (text: string) =>
      fc
        .array(fc.boolean(), { minLength: text.length, maxLength: text.length })
        .map((ups) => [...text].map((c, i) => (ups[i] ? c.toUpperCase() : c)).join(''));
    const host = fc.constantFrom(
      'github.com',
      'gitlab.com',
      'example.com',
      'evil.example',
      '127.0.0.1',
      'localhost',
    );
    const segment = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,8}$/);
    const repoPath = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/'));
    const query = fc.constantFrom('', '?ref=v1', '?version=main', '//sub?ref=x', '#frag');
    const spelling = fc.oneof(
      fc
        .tuple(scheme.chain(caseOf), fc.constantFrom('://', ':', ':/'), host, repoPath, query)
        .map(([s, sep, h, p, q]) => `${s}${sep}${h}/${p}${q}`),
      fc.tuple(segment, host, repoPath).map(([user, h, p]) => `${user}@${h}:${p}`),
      fc.tuple(fc.constantFrom('//', '\\\\'), host, repoPath).map(([pre, h, p]) => `${pre}${h}/${p}`),
      fc
        .tuple(fc.constantFrom('github.com', 'GITHUB.COM', 'gitlab.com', 'bitbucket.org'), repoPath, query)
        .map(([h, p, q]) => `${h}/${p}${q}`),
      fc.tuple(repoPath, fc.constantFrom('?ref=main', '?version=1')).map(([p, q]) => `${p}${q}`),
    );
    await fc.assert(
      fc.asyncProperty(spelling, async (ref) => {
        expect(await isRemoteRef(undefined, 'app', ref)).toBe(true);
      }),
      { seed: 11, numRuns: 400 },
    );
    // AND each, written into a kustomization's resources, components or bases, is refused naming
    // the file and the entry before any tool runs
    const b = sandbox();
    boxes.push(b);
    const field = fc.constantFrom('resources', 'components', 'bases');
    await fc.assert(
      fc.asyncProperty(spelling, field, async (ref, key) => {
        b.write({ 'app/kustomization.yaml': `${key}:\n  - ${JSON.stringify(ref)}\n` });
        await expect(renderInputs(b.tree(), specOf('web', 'app'))).rejects.toThrow(
          `app/kustomization.yaml: refers to the remote resource ${JSON.stringify(ref)}`,
        );
      }),
      { seed: 11, numRuns: 150 },
    );
  });

  it('leaves plain relative paths local', async () => {
    const segment = fc.stringMatching(/^[a-z0-9_-]{1,10}$/);
    const local = fc
      .tuple(
        fc.constantFrom('', '../', './'),
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('', '.yaml', '/'),
      )
      .map(([pre, segs, end]) => `${pre}${segs.join('/')}${end}`);
    await fc.assert(
      fc.asyncProperty(local, async (ref) => {
        expect(await isRemoteRef(undefined, 'app', ref)).toBe(false);
      }),
      { seed: 11, numRuns: 300 },
    );
  });
});
