/**
 * The API token: kept in sessionStorage (this tab only, gone when it closes), never in the URL,
 * never in localStorage. The tenant comes from the API (`GET /v1/tenant`), never from the user.
 */
import { useSyncExternalStore } from "react";

const KEY = "cloudops.token";
const TENANT = "cloudops.tenant";

export interface Session {
  token: string;
  tenant: string;
  tenantName: string;
}

let current: Session | null = read();
const listeners = new Set<() => void>();

function read(): Session | null {
  try {
    const token = sessionStorage.getItem(KEY);
    const tenant = sessionStorage.getItem(TENANT);
    if (!token || !tenant) return null;
    const [id, name] = JSON.parse(tenant) as [string, string];
    return { token, tenant: id, tenantName: name };
  } catch {
    return null;
  }
}

export function getSession(): Session | null {
  return current;
}

export function setSession(s: Session | null): void {
  current = s;
  if (s) {
    sessionStorage.setItem(KEY, s.token);
    sessionStorage.setItem(TENANT, JSON.stringify([s.tenant, s.tenantName]));
  } else {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(TENANT);
  }
  listeners.forEach((l) => l());
}

export function useSession(): Session | null {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => current,
  );
}

let last: Session | null = current;

/** The signed-in session, for pages that only render behind the sign-in guard. In the moment
 * between a sign-out (or a 401) and the redirect to sign-in, the last session: its token no
 * longer works and its cached data is already cleared. */
export function useTenant(): Session {
  const s = useSession();
  if (s) last = s;
  const known = s ?? last;
  if (!known) throw new Error("not signed in");
  return known;
}
