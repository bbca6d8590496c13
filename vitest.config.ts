import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['*/test/**/*.test.ts'],
    // Tests boot real brokers, databases and processes on ephemeral ports.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: keep heavy end-to-end files from starving each other.
    maxWorkers: 2,
    // The default report, then every file's time (slowest first) and a plain closing line.
    reporters: ['default', './.ci/durations-reporter.ts'],
  },
});
