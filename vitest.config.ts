import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The emulator suites run with `npm run test:aws` (vitest.aws.config.ts), which starts LocalStack.
    exclude: [...configDefaults.exclude, 'test/aws/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
