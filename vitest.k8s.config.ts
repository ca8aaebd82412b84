import { defineConfig } from 'vitest/config';

/**
 * The suites that need a real kube-apiserver (`npm run test:k8s`): etcd and kube-apiserver are
 * built once (scripts/kube/build.sh, cached) and started once for the run. The files are named
 * `*.k8s.ts` so the default config's `test/**\/*.test.ts` never picks them up without a server.
 */
export default defineConfig({
  test: {
    include: ['test/k8s/**/*.k8s.ts'],
    globalSetup: ['test/support/kube.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One API server for every suite; two cores are shared, so files run one at a time.
    fileParallelism: false,
  },
});
