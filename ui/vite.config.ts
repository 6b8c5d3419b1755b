/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The UI is served by `hearth serve` from ui/dist (assets under /assets/), so it is built for
// the root path and loads nothing from outside the bundle.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
  },
  server: {
    // `npm run dev` against a running `hearth serve` (HEARTH_URL, default :8000).
    proxy: Object.fromEntries(
      ["/session", "/v1", "/threads", "/comparisons", "/admin", "/audit", "/health"].map((p) => [
        p,
        {
          target: process.env.HEARTH_URL ?? "http://127.0.0.1:8000",
          changeOrigin: true,
          // The gateway refuses another site's Origin; the dev server is that other site.
          configure: (proxy) => proxy.on("proxyReq", (req) => req.removeHeader("origin")),
        },
      ]),
    ),
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
