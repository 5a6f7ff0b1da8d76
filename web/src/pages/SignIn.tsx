import { useNavigate, useSearch } from "@tanstack/react-router";
import { useState, type FormEvent } from "react";
import { ApiError, getJson, type Tenant } from "../api";
import { setSession } from "../auth";

/** Sign in with an API token (`cloudops tokens create`): checked against GET /v1/tenant, kept in
 * sessionStorage for this tab only. The form never submits to a URL, so the token is never in one. */
export function SignIn() {
  const navigate = useNavigate();
  const search = useSearch({ from: "/signin" });
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const t = token.trim();
      const tenant = await getJson<Tenant>("/v1/tenant", {}, t);
      setSession({ token: t, tenant: tenant.id, tenantName: tenant.display_name || tenant.id });
      await navigate({ to: search.next ?? "/" });
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? "This token is not valid (unknown, expired or revoked)."
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <form onSubmit={(e) => void submit(e)} method="post" action="#" aria-labelledby="signin-title">
        <h1 id="signin-title">cloudops</h1>
        <p>Sign in with an API token. Create one with <code>cloudops tokens create --tenant T --scope …</code>.</p>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          required
          value={token}
          onChange={(e) => setToken(e.target.value)}
          placeholder="cop_…"
        />
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy || !token.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="hint">The token stays in this tab (session storage) and is sent only as an Authorization header.</p>
      </form>
    </main>
  );
}
