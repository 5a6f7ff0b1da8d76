import type { ReactNode } from "react";
import { ApiError } from "../api";

export function Loading({ what }: { what: string }) {
  return (
    <div className="state loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state empty">{children}</div>;
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const msg = error instanceof Error ? error.message : String(error);
  const rid = error instanceof ApiError && error.requestId ? ` (request ${error.requestId})` : "";
  const forbidden = error instanceof ApiError && error.status === 403;
  return (
    <div className="state error" role="alert">
      <strong>{forbidden ? "Not allowed for this token" : "Something went wrong"}</strong>
      <span>
        {msg}
        {rid}
      </span>
      {retry && (
        <button type="button" onClick={retry}>
          Retry
        </button>
      )}
    </div>
  );
}

/** Loading / error / empty / content, for one query. */
export function QueryState<T>({
  q,
  what,
  isEmpty,
  empty,
  children,
}: {
  q: { isPending: boolean; error: unknown; data: T | undefined; refetch: () => unknown };
  what: string;
  isEmpty?: (d: T) => boolean;
  empty?: ReactNode;
  children: (d: T) => ReactNode;
}) {
  if (q.isPending) return <Loading what={what} />;
  if (q.error) return <ErrorBox error={q.error} retry={() => void q.refetch()} />;
  if (q.data === undefined) return <Loading what={what} />;
  if (isEmpty?.(q.data)) return <Empty>{empty ?? `No ${what}.`}</Empty>;
  return <>{children(q.data)}</>;
}
