import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Paths are resolved from this file, not from the shell's working directory, so the
// build works whether it is started from the repo root or from dashboard/.
const root = fileURLToPath(new URL('./web/', import.meta.url));
const outDir = fileURLToPath(new URL('./dist/', import.meta.url));

export default defineConfig({
  root,
  // Relative asset URLs: the page keeps working if the cloud mounts it under a prefix.
  base: './',
  // Nothing is copied verbatim from a public folder; every asset goes through the bundle.
  publicDir: false,
  build: {
    outDir,
    emptyOutDir: true,
    // An operations center may be offline: everything the page needs is in dist/.
    // Small assets (favicon) are inlined; nothing is ever fetched from another origin.
    assetsInlineLimit: 8192,
  },
  server: {
    // `vite` dev server: forward the cloud's API and live socket to a locally running cloud.
    proxy: {
      '/api': process.env.SCHOOLOPS_CLOUD_URL ?? 'http://127.0.0.1:8080',
      '/socket.io': { target: process.env.SCHOOLOPS_CLOUD_URL ?? 'http://127.0.0.1:8080', ws: true },
    },
  },
});
