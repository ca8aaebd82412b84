/**
 * One promise chain per key: tasks with the same key run one after another, in call order; tasks
 * with different keys run concurrently. A key's chain is dropped once it is idle.
 */
export const keyedLock = () => {
  const tails = new Map<string, Promise<void>>();
  return <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const result = (tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return result;
  };
};
