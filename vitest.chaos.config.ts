import { defineConfig } from 'vitest/config';

/**
 * The heavy reliability suites (`npm run test:chaos`, also run by .ci/run): minutes, not seconds.
 * Their files end in .chaos.ts so the default `vitest run` never picks them up.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.chaos.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
