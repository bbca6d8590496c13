import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['*/test/**/*.test.ts'],
    // Tests boot real brokers, databases and processes on ephemeral ports, and wait for
    // conditions with a safety deadline of 120 s (simulators/test/support/wait.ts): a test's
    // own limit is above it, so a hang fails with the wait's message saying what never came.
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // Builds dashboard/dist first when it is missing or stale (the browser tests need it).
    globalSetup: ['./.ci/build-dashboard.ts'],
    pool: 'forks',
    // Two cores: keep heavy end-to-end files from starving each other.
    maxWorkers: 2,
    // The default report, then every file's time (slowest first) and a plain closing line.
    reporters: ['default', './.ci/durations-reporter.ts'],
  },
});
