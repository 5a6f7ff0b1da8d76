/**
 * Typed routes (TanStack Router, code-based): every page but sign-in sits behind a guard that
 * needs a session; each page is its own chunk (lazyRouteComponent). The Explorer's and the
 * Recommendations page's state are typed search params.
 */
import type { QueryClient } from "@tanstack/react-query";
import {
  createRootRouteWithContext,
  createRoute,
  createRouter,
  lazyRouteComponent,
  Outlet,
  redirect,
} from "@tanstack/react-router";
import { getSession } from "./auth";
import { Layout } from "./components/Layout";
import { parseExplorerSearch } from "./search";

interface Ctx {
  queryClient: QueryClient;
}

const root = createRootRouteWithContext<Ctx>()({ component: Outlet });

const signIn = createRoute({
  getParentRoute: () => root,
  path: "/signin",
  validateSearch: (raw: Record<string, unknown>): { next?: string } =>
    typeof raw.next === "string" && raw.next.startsWith("/") ? { next: raw.next } : {},
  component: lazyRouteComponent(() => import("./pages/SignIn"), "SignIn"),
});

const app = createRoute({
  getParentRoute: () => root,
  id: "app",
  beforeLoad: ({ location }) => {
    if (!getSession()) throw redirect({ to: "/signin", search: { next: location.pathname } });
  },
  component: Layout,
});

const overview = createRoute({
  getParentRoute: () => app,
  path: "/",
  component: lazyRouteComponent(() => import("./pages/Overview"), "Overview"),
});

export const explorerRoute = createRoute({
  getParentRoute: () => app,
  path: "/explorer",
  validateSearch: parseExplorerSearch,
  component: lazyRouteComponent(() => import("./pages/Explorer"), "Explorer"),
});

export const recommendationsRoute = createRoute({
  getParentRoute: () => app,
  path: "/recommendations",
  validateSearch: (raw: Record<string, unknown>): { state: string; open?: string } => ({
    state: typeof raw.state === "string" ? raw.state : "active",
    open: typeof raw.open === "string" ? raw.open : undefined,
  }),
  component: lazyRouteComponent(() => import("./pages/Recommendations"), "Recommendations"),
});

export const ingestionRoute = createRoute({
  getParentRoute: () => app,
  path: "/ingestion",
  validateSearch: (raw: Record<string, unknown>): { source?: string } =>
    typeof raw.source === "string" ? { source: raw.source } : {},
  component: lazyRouteComponent(() => import("./pages/Ingestion"), "Ingestion"),
});

const settings = createRoute({
  getParentRoute: () => app,
  path: "/settings",
  component: lazyRouteComponent(() => import("./pages/Settings"), "Settings"),
});

const tree = root.addChildren([signIn, app.addChildren([overview, explorerRoute, recommendationsRoute, ingestionRoute, settings])]);

export const router = createRouter({
  routeTree: tree,
  context: { queryClient: undefined! },
  defaultPreload: "intent",
  scrollRestoration: true,
});

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}
