import { defineConfig } from "vitest/config";

// The bundle is built from frontend/ into static/, which Flask serves and git keeps.
export default defineConfig({
  root: "frontend",
  publicDir: "public",
  base: "/",
  build: {
    outDir: "../static",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    root: ".",
    include: ["frontend/tests/**/*.test.ts"],
    environment: "node",
  },
});
