import { defineConfig } from 'vitest/config';

/** The emulator suites (`npm run test:aws`): LocalStack is provisioned and started once for the run. */
export default defineConfig({
  test: {
    include: ['test/aws/**/*.test.ts'],
    globalSetup: ['test/support/emulator.ts'],
    testTimeout: 90_000,
    hookTimeout: 90_000,
    pool: 'forks',
  },
});
