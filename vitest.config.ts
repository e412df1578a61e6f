import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // SWC instead of esbuild: Nest needs emitDecoratorMetadata, which esbuild does not emit.
  plugins: [swc.vite({ module: { type: 'es6' }, jsc: { target: 'es2023' } })],
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // `vitest run` runs both; `npm run test:unit` (--project unit) runs only the first.
    projects: [
      {
        extends: true,
        // Unit specs sit next to the code and need neither PostgreSQL nor Redis: no global setup.
        test: { name: 'unit', include: ['src/**/*.spec.ts'] },
      },
      {
        extends: true,
        // Real PostgreSQL and Redis for the run (global-setup), no child service outliving a file (per-file).
        test: {
          name: 'integration',
          include: ['test/**/*.spec.ts'],
          globalSetup: ['test/setup/global-setup.ts'],
          setupFiles: ['test/setup/per-file.ts'],
        },
      },
    ],
  },
});
