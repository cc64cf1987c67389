import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Where `npm run dev` forwards the relay's endpoints (the WebSocket and the
// development sign-in). The tests serve the built app from the relay itself.
const relay = process.env.PARLEY_RELAY ?? 'http://127.0.0.1:8787';

export default defineConfig({
  plugins: [react()],
  // Relative asset URLs: the relay serves dist/ at `/`.
  base: './',
  // The SDK finds parley.wasm with `new URL('../parley.wasm', import.meta.url)`;
  // keeping it out of the dev server's pre-bundling keeps that URL right with
  // Vite 7 and 8 (see examples/web-chat/README.md).
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
