/**
 * Items in batches of at most `maxItems` and at most `maxBytes` by `size`, in order (SQS
 * SendMessageBatch and EventBridge PutEvents both cap a call by count and by total size). An item
 * bigger than `maxBytes` alone is a batch of its own: the service names it when it refuses it.
 */
export const batchesOf = <T>(
  items: readonly T[],
  limits: { readonly maxItems: number; readonly maxBytes: number; readonly size: (item: T) => number },
): T[][] => {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = limits.size(item);
    if (batch.length > 0 && (batch.length === limits.maxItems || bytes + size > limits.maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
};
