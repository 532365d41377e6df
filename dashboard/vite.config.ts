/**
 * The dashboard's build: a browser app (Preact, uPlot) bundled by Vite into dist/dashboard,
 * which `tidemark serve` serves at /ui/. Everything it needs is in the bundle: no CDN, no
 * fonts or scripts fetched at run time.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root: here,
  base: "/ui/",
  // JSX through esbuild's automatic runtime from Preact: no framework plugin needed.
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: fileURLToPath(new URL("../dist/dashboard/", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    reportCompressedSize: true,
    chunkSizeWarningLimit: 300,
  },
  logLevel: "warn",
});
