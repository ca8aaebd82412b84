/**
 * Control characters and ANSI escapes in names a pusher chooses (branch, repo, path, app, commit
 * message) are shown escaped in every printout: the progress lines of `sluice dev` and
 * `sluice trace`, the `sluice status` table and error messages. One helper, shared/printable.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { printStatus } from '../../cli/commands/status.ts';
import { printEvent } from '../../cli/progress.ts';
import { printable, printableLines } from '../../shared/printable.ts';
import type { Envelope } from '../../shared/schemas/events.ts';

const ESC = '\u001b';
/** Anything a terminal would act on: C0/C1 controls, DEL, bidi overrides, line separators. */
const hasRawControl = (text: string): boolean =>
  [...text].some((char) => {
    const code = char.codePointAt(0) ?? 0;
    return (
      code < 0x20 ||
      (code >= 0x7f && code <= 0x9f) ||
      code === 0x2028 ||
      code === 0x2029 ||
      (code >= 0x202a && code <= 0x202e) ||
      (code >= 0x2066 && code <= 0x2069)
    );
  });

const hostile = {
  branch: `main${ESC}[2J${ESC}]0;owned\u0007`,
  repo: 'local/fleet\r\n12:00:00.000  healthy   forged line',
  app: `web\u202egnp.exe`,
  path: `apps/web/${ESC}[31mred.yaml`,
};

const envelope = (detailType: string, detail: Record<string, unknown>): Envelope => ({
  version: '0',
  id: 'id',
  'detail-type': detailType,
  source: 'sluice',
  time: '2026-12-06T12:00:00.000Z',
  resources: [],
  detail: {
    occurredAt: '2026-12-06T12:00:00.000Z',
    traceId: 't'.repeat(36),
    commit: 'c'.repeat(40),
    ...detail,
  },
});

const printed = (e: Envelope): string[] => {
  const lines: string[] = [];
  printEvent((line) => lines.push(line))(e);
  return lines;
};

describe('printable', () => {
  it.each([
    [`a${ESC}[31mb`, 'a\\x1b[31mb'],
    ['a\nb\rc\td', 'a\\nb\\rc\\td'],
    ['a\u0000b\u007fc', 'a\\x00b\\x7fc'],
    ['a\u009bb', 'a\\x9bb'],
    ['evil\u202etxt.exe', 'evil\\u202etxt.exe'],
    ['line\u2028sep', 'line\\u2028sep'],
    ['plain café 名前 — ok', 'plain café 名前 — ok'],
  ])('shows %j as %j', (input, expected) => {
    expect(printable(input)).toBe(expected);
  });

  it('never lets a raw control character through, whatever the name (fast-check, seed 1212)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
        expect(hasRawControl(printable(name))).toBe(false);
      }),
      { seed: 1_212, numRuns: 2_000 },
    );
  });

  it('keeps line breaks of multi-line text but escapes what is inside the lines', () => {
    expect(printableLines(`one${ESC}[1m\ntwo`)).toBe('one\\x1b[1m\ntwo');
  });
});

describe('printouts with hostile names', () => {
  it('escapes a hostile branch, repo and message in the push line of sluice dev and sluice trace', () => {
    // GIVEN a Commit Pushed naming a branch with a clear-screen escape and a repo with CR LF
    const lines = printed(
      envelope('Commit Pushed', {
        repo: hostile.repo,
        branch: hostile.branch,
        pusher: `eve${ESC}[8m`,
        message: `fix${ESC}[2K`,
        deleted: false,
        forced: false,
      }),
    );
    // THEN one line, no raw control character, the escapes visible
    expect(lines).toHaveLength(1);
    expect(hasRawControl(lines[0] ?? '')).toBe(false);
    expect(lines[0]).toContain('main\\x1b[2J\\x1b]0;owned\\x07');
    expect(lines[0]).toContain('local/fleet\\r\\n12:00:00.000');
  });

  it('escapes a hostile path in a Render Failed line, and a hostile app in a Deployment Failed line', () => {
    const failed = printed(
      envelope('Render Failed', {
        app: hostile.app,
        targets: ['staging'],
        error: { code: 'RENDER_FAILED', message: `${hostile.path}: refused` },
      }),
    );
    const deployment = printed(
      envelope('Deployment Failed', {
        app: hostile.app,
        target: 'staging',
        reason: 'APPLY_REJECTED',
        message: 'x\ny',
      }),
    );
    for (const line of [...failed, ...deployment]) expect(hasRawControl(line)).toBe(false);
    expect(failed[0]).toContain('apps/web/\\x1b[31mred.yaml');
    expect(deployment[0]).toContain('web\\u202egnp.exe');
  });

  it('escapes hostile app, target, repo, branch and reason cells in the sluice status table', () => {
    const lines: string[] = [];
    printStatus(
      [
        {
          app: hostile.app,
          target: `prod${ESC}[1m`,
          deployed: {
            commit: 'c'.repeat(40),
            state: 'Failed',
            updatedAt: '2026-12-06T12:00:00.000Z',
            reason: `${hostile.path} refused`,
          },
        } as never,
      ],
      [
        {
          repo: hostile.repo,
          branch: hostile.branch,
          commit: 'c'.repeat(40),
          outcome: 'skipped',
          at: 'now',
        } as never,
      ],
      (line) => lines.push(line),
    );
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(hasRawControl(line)).toBe(false);
    expect(lines.join('\n')).toContain('prod\\x1b[1m');
    expect(lines.join('\n')).toContain('main\\x1b[2J');
  });
});
