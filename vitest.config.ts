import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Tests spawn GDAL, onnxruntime and servers; two cores do not gain from more parallel files.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
