import { useQueryClient } from "@tanstack/react-query";
import { Link, Outlet } from "@tanstack/react-router";
import { useEffect } from "react";
import { setSession, useSession, useTenant } from "../auth";
import { connectLive, useLiveStatus } from "../live";

const NAV = [
  { to: "/", label: "Overview" },
  { to: "/explorer", label: "Explorer" },
  { to: "/recommendations", label: "Recommendations" },
  { to: "/ingestion", label: "Ingestion" },
  { to: "/settings", label: "Settings" },
] as const;

export function Layout() {
  const signedIn = useSession();
  const s = useTenant();
  const qc = useQueryClient();
  const live = useLiveStatus();
  useEffect(() => connectLive(s.token, s.tenant, qc), [s.token, s.tenant, qc]);
  // Signed out (or a 401): render nothing; the route guard, re-run by App, redirects to sign-in.
  if (!signedIn) return null;
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">cloudops</span>
        <nav aria-label="Main">
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} activeOptions={{ exact: n.to === "/", includeSearch: false }} activeProps={{ "aria-current": "page", className: "active" }}>
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="who">
          <span className={`live ${live}`} title={`live updates: ${live}`}>
            ● <span className="sr-only">live updates </span>
            {live}
          </span>
          <span className="tenant" data-testid="tenant">
            Tenant <strong>{s.tenantName}</strong> <code>{s.tenant}</code>
          </span>
          <button
            type="button"
            onClick={() => {
              qc.clear();
              setSession(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
