import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bundleKey, decodeBundle, encodeBundle, sha256Digest } from '../../shared/core/bundle.ts';
import type { RenderedObject } from '../../shared/core/render.ts';

const cm = (name: string, data: Record<string, string>): RenderedObject => ({
  file: `apps/web/${name}.yaml`,
  object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'web' }, data },
});

describe('encodeBundle', () => {
  it('gives the same digest for the same objects in a different order and key order', () => {
    // GIVEN two lists holding the same objects, shuffled, with keys inserted differently
    const a = [cm('a', { x: '1', y: '2' }), cm('b', {})];
    const b: RenderedObject[] = [
      cm('b', {}),
      {
        file: 'apps/web/a.yaml',
        object: {
          data: { y: '2', x: '1' },
          metadata: { namespace: 'web', name: 'a' },
          kind: 'ConfigMap',
          apiVersion: 'v1',
        },
      },
    ];
    // WHEN encoded
    const [ea, eb] = [
      encodeBundle(a, { app: 'web', commit: '1'.repeat(40) }),
      encodeBundle(b, { app: 'web', commit: '1'.repeat(40) }),
    ];
    // THEN the bytes, and so the digests, are equal
    expect(sha256Digest(ea)).toBe(sha256Digest(eb));
  });

  it('gives one digest for every permutation of the same objects', () => {
    // GIVEN any set of uniquely named ConfigMaps, in any order
    const objects = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), {
      minLength: 1,
      maxLength: 8,
    });
    fc.assert(
      fc.property(objects, fc.infiniteStream(fc.nat()), (names, seeds) => {
        const list = names.map((n) => cm(n, { n }));
        const shuffled = list
          .map((o) => ({ o, k: seeds.next().value as number }))
          .sort((a, b) => a.k - b.k)
          .map(({ o }) => o);
        // WHEN both orders are encoded THEN the digests match
        expect(sha256Digest(encodeBundle(shuffled, { app: 'web', commit: 'c' }))).toBe(
          sha256Digest(encodeBundle(list, { app: 'web', commit: 'c' })),
        );
      }),
    );
  });

  it('leaves the commit out, so the same manifests at two commits share a digest (a revert is a no-op)', () => {
    const objects = [cm('a', { x: '1' })];
    const first = encodeBundle(objects, { app: 'web', commit: '1'.repeat(40), environment: 'prod' });
    const revert = encodeBundle(objects, { app: 'web', commit: '2'.repeat(40), environment: 'prod' });
    expect(sha256Digest(revert)).toBe(sha256Digest(first));
    expect(new TextDecoder().decode(first)).not.toContain('1'.repeat(40));
  });

  it('gives a different digest when a value or the environment changes', () => {
    const base = sha256Digest(encodeBundle([cm('a', { x: '1' })], { app: 'web', commit: 'c' }));
    expect(sha256Digest(encodeBundle([cm('a', { x: '2' })], { app: 'web', commit: 'c' }))).not.toBe(base);
    expect(
      sha256Digest(encodeBundle([cm('a', { x: '1' })], { app: 'web', commit: 'c', environment: 'prod' })),
    ).not.toBe(base);
  });

  it('round-trips through decodeBundle', () => {
    const bytes = encodeBundle([cm('b', {}), cm('a', { x: '1' })], {
      app: 'web',
      commit: 'c',
      environment: 'prod',
    });
    const bundle = decodeBundle(bytes);
    expect(bundle).toMatchObject({
      apiVersion: 'sluice.dev/v1',
      kind: 'Bundle',
      app: 'web',
      environment: 'prod',
    });
    expect(bundle.objects.map((o) => o.object.metadata.name)).toEqual(['a', 'b']);
  });
});

describe('decodeBundle', () => {
  it.each([
    ['not JSON', 'nope', /not UTF-8 JSON/],
    [
      'a wrong kind',
      '{"apiVersion":"sluice.dev/v1","kind":"Other","app":"a","objects":[]}',
      /malformed at kind/,
    ],
    [
      'an object without a name',
      '{"apiVersion":"sluice.dev/v1","kind":"Bundle","app":"a","objects":[{"file":"f","object":{"apiVersion":"v1","kind":"X","metadata":{}}}]}',
      /malformed at objects\.0\.object\.metadata\.name/,
    ],
  ])('rejects %s with BUNDLE_INVALID', (_, text, message) => {
    expect(() => decodeBundle(new TextEncoder().encode(text))).toThrow(message);
  });
});

describe('sha256Digest and bundleKey', () => {
  it('address bundles by their sha256', () => {
    const digest = sha256Digest(new TextEncoder().encode('abc'));
    expect(digest).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(bundleKey(digest)).toBe(
      'bundles/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.json',
    );
    expect(() => bundleKey('md5:abc')).toThrow(/is not sha256:<64 hex>/);
  });
});
