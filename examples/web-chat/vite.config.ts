import { defineConfig } from 'vite';

// Where `npm run dev` forwards the relay's endpoints (the WebSocket and the
// demo's development sign-in). `./build.sh demo` serves the built app from the
// relay itself, so production builds need no proxy.
const relay = process.env.PARLEY_RELAY ?? 'http://127.0.0.1:8787';

export default defineConfig({
  // Relative asset URLs (./assets/…): the relay serves dist/ at `/`, and the
  // files work from any other path too.
  base: './',
  // parley.wasm is loaded with `new URL('../parley.wasm', import.meta.url)`
  // from inside the package. `vite build` copies it into dist/assets and
  // rewrites the URL (Vite 7 and 8). The dev server's dependency pre-bundling
  // moves the package's code into node_modules/.vite/deps: Vite 8 rewrites the
  // URL, Vite 7 does not (the page then gets index.html instead of the wasm).
  // Excluding the package from pre-bundling works with both.
  optimizeDeps: { exclude: ['@parley-im/sdk'] },
  server: {
    proxy: {
      '/v1/ws': { target: relay, ws: true },
      '/dev/token': { target: relay },
    },
  },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
  },
});
