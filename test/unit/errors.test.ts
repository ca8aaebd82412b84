import { describe, expect, it } from 'vitest';
import { ConflictError, ErrorCode, isErrorCode, isSluiceError, SluiceError } from '../../shared/errors.ts';

describe('SluiceError codes', () => {
  it('recognises a SluiceError by its code from the closed set, even rebuilt from JSON', () => {
    // GIVEN a conflict, and the same error as it crosses a process boundary
    const error = new ConflictError('branch state acme/fleet#main');
    const rebuilt = JSON.parse(JSON.stringify(error)) as unknown;

    // WHEN they are checked THEN both are SluiceErrors with code CONFLICT, retryable
    expect(isSluiceError(error)).toBe(true);
    expect(isSluiceError(rebuilt)).toBe(true);
    expect(rebuilt).toMatchObject({ code: ErrorCode.CONFLICT, retryable: true });
  });

  it('does not take an errno or SDK error with a code of its own for a SluiceError', () => {
    // GIVEN errors whose code is not in the set
    const errno = Object.assign(new Error('no such file'), { code: 'ENOENT', retryable: false });
    const sdk = { name: 'NoSuchKey', code: 'NoSuchKey', retryable: true };

    // WHEN they are checked THEN neither is one, and neither code is a member
    expect(isSluiceError(errno)).toBe(false);
    expect(isSluiceError(sdk)).toBe(false);
    expect(isErrorCode('ENOENT')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });

  it('names every code by itself, so the set reads the same as a union and an object', () => {
    // GIVEN the closed set WHEN each entry is read THEN its key and value agree
    for (const [key, value] of Object.entries(ErrorCode)) expect(value).toBe(key);
    expect(new SluiceError('NOT_FOUND', 'x').code).toBe(ErrorCode.NOT_FOUND);
  });
});
