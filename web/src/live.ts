/**
 * Live events: one `graphql-transport-ws` subscription to `/graphql/live` per signed-in tab.
 * Each event invalidates the TanStack Query caches it makes stale (keyed by tenant), and the
 * newest events are kept for the Ingestion page's live progress. A reconnect resumes after the
 * last event id (the API replays what was missed).
 */
import type { QueryClient } from "@tanstack/react-query";
import { createClient, type Client } from "graphql-ws";
import { useSyncExternalStore } from "react";

export interface LiveEvent {
  id: string;
  kind: string;
  at: string;
  data: Record<string, unknown>;
}

const SUBSCRIPTION = `subscription Events($lastEventId: String) {
  events(lastEventId: $lastEventId) { id kind at data }
}`;

let events: LiveEvent[] = [];
let status: "off" | "connecting" | "live" | "error" = "off";
const listeners = new Set<() => void>();
const emit = () => listeners.forEach((l) => l());

function subscribeStore(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useLiveEvents(): LiveEvent[] {
  return useSyncExternalStore(subscribeStore, () => events);
}

export function useLiveStatus(): string {
  return useSyncExternalStore(subscribeStore, () => status);
}

/** Which cached queries an event makes stale (keys are [tenant, area, ...]). */
export function staleAreas(kind: string): string[] {
  switch (kind) {
    case "loaded":
      return ["costs", "overview", "files", "periods"];
    case "file":
      return ["files", "overview"];
    case "period":
      return ["periods", "costs", "overview"];
    case "recommendation":
    case "pull_request":
      return ["recommendations", "overview"];
    default:
      return [];
  }
}

export function connectLive(token: string, tenant: string, qc: QueryClient): () => void {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  let lastEventId: string | null = null;
  events = [];
  status = "connecting";
  emit();
  const client: Client = createClient({
    url: `${proto}//${location.host}/graphql/live`,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: Infinity,
    shouldRetry: () => true,
    on: {
      connected: () => {
        status = "live";
        emit();
      },
      closed: () => {
        status = "connecting";
        emit();
      },
      error: () => {
        status = "error";
        emit();
      },
    },
  });
  let stopped = false;
  let dispose: (() => void) | null = null;
  const start = () => {
    dispose = client.subscribe<{ events: LiveEvent }>(
      { query: SUBSCRIPTION, variables: { lastEventId } },
      {
        next: (msg) => {
          const ev = msg.data?.events;
          if (!ev) return;
          lastEventId = ev.id;
          events = [ev, ...events].slice(0, 200);
          emit();
          for (const area of staleAreas(ev.kind)) void qc.invalidateQueries({ queryKey: [tenant, area] });
        },
        error: () => {
          status = "error";
          emit();
          if (!stopped) setTimeout(start, 2000);
        },
        complete: () => {
          if (!stopped) setTimeout(start, 1000);
        },
      },
    );
  };
  start();
  return () => {
    stopped = true;
    dispose?.();
    void client.dispose();
    status = "off";
    emit();
  };
}
