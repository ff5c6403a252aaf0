import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Disk tests create real char devices and mounts under one temp root; the
    // contract suite and the memory suites are cheap, so two workers are plenty
    // on the 2-core machines this runs on.
    maxWorkers: 2,
    testTimeout: 30_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
})
