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
  },
});
