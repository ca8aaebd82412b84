/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export const waitFor = async <T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
};

/** Polls a ledger record until `check` accepts it (e.g. Healthy at a commit), for up to `timeoutMs`. */
export const recordWhere = <R>(
  read: () => Promise<R | undefined>,
  check: (record: R) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<R> =>
  waitFor(
    what,
    async () => {
      const record = await read();
      return record !== undefined && check(record) ? record : undefined;
    },
    timeoutMs,
  );
