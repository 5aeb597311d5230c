// The build writes into the Python package, where headwater/api/ui.py serves it from.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  // Relative asset URLs: the UI works wherever the app is mounted.
  base: "./",
  build: {
    outDir: fileURLToPath(new URL("../headwater/ui/dist", import.meta.url)),
    emptyOutDir: true,
    // No inlined data: URLs for scripts, so the page runs under a strict Content-Security-Policy.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2022",
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8000" },
  },
});
