import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API (CLOUDOPS_API_URL, default http://127.0.0.1:8000); the built app
// (dist/) is served by `cloudops api` itself at /, so it talks to its own origin.
const api = process.env.CLOUDOPS_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 900,
    rollupOptions: {
      output: {
        manualChunks: {
          echarts: ["echarts/core", "echarts/charts", "echarts/components", "echarts/renderers"],
        },
      },
    },
  },
  server: {
    proxy: {
      "/v1": api,
      "/graphql": { target: api, ws: true },
      "/healthz": api,
    },
  },
});
