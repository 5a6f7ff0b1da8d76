import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError, SCOPES, del, getJson, postJson, type Page, type Token } from "../api";
import { useTenant } from "../auth";
import { ErrorBox, QueryState } from "../components/States";
import { formatDate } from "../format";

export function Settings() {
  const { tenant } = useTenant();
  const qc = useQueryClient();
  const tokens = useQuery({ queryKey: [tenant, "tokens"], queryFn: () => getJson<Page<Token>>("/v1/tokens", { limit: 500 }), retry: false });
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Set<string>>(new Set(["costs:read"]));
  const [expires, setExpires] = useState("90d");
  const [issued, setIssued] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => postJson<{ token: Token; secret: string }>("/v1/tokens", { name, scopes: [...scopes], expires }),
    onSuccess: (r) => {
      setIssued(r.secret);
      setName("");
      void qc.invalidateQueries({ queryKey: [tenant, "tokens"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => del<Token>(`/v1/tokens/${encodeURIComponent(id)}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: [tenant, "tokens"] }),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setIssued(null);
    create.mutate();
  };
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <h2>API tokens</h2>
      {tokens.error instanceof ApiError && tokens.error.status === 403 ? (
        <p className="muted">Managing tokens needs the tokens:admin scope.</p>
      ) : (
        <QueryState q={tokens} what="tokens" isEmpty={(d) => d.items.length === 0} empty="No tokens.">
          {(d) => (
            <table className="simple" aria-label="API tokens">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Id</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Last used</th>
                  <th scope="col">State</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((t) => (
                  <tr key={t.id}>
                    <td>{t.name}</td>
                    <td>
                      <code>{t.id}</code>
                    </td>
                    <td className="small">{t.scopes.join(", ")}</td>
                    <td>{formatDate(t.created_at)}</td>
                    <td>{t.expires_at ? formatDate(t.expires_at) : "never"}</td>
                    <td>{formatDate(t.last_used_at)}</td>
                    <td>{t.revoked_at ? <span className="badge dismissed">revoked</span> : <span className="badge open">active</span>}</td>
                    <td>
                      {!t.revoked_at && (
                        <button
                          type="button"
                          onClick={() => {
                            if (confirm(`Revoke token ${t.name} (${t.id})? Clients using it stop working at once.`)) revoke.mutate(t.id);
                          }}
                        >
                          Revoke<span className="sr-only"> {t.name}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </QueryState>
      )}
      {revoke.error && <ErrorBox error={revoke.error} />}
      <h3>Create a token</h3>
      <form className="token-form" onSubmit={submit}>
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
        </label>
        <label>
          Expires
          <input value={expires} onChange={(e) => setExpires(e.target.value)} placeholder="90d, 12h, 2027-01-01, never" />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} className="check">
              <input
                type="checkbox"
                checked={scopes.has(s)}
                onChange={(e) => {
                  const next = new Set(scopes);
                  if (e.target.checked) next.add(s);
                  else next.delete(s);
                  setScopes(next);
                }}
              />{" "}
              {s}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={!name.trim() || scopes.size === 0 || create.isPending}>
          Create token
        </button>
      </form>
      {create.error && <ErrorBox error={create.error} />}
      {issued && (
        <div className="issued" role="status">
          <p>
            <strong>Copy this token now: it is shown once.</strong> cloudops stores only its hash.
          </p>
          <code data-testid="new-token">{issued}</code>{" "}
          <button type="button" onClick={() => void navigator.clipboard?.writeText(issued)}>
            Copy
          </button>{" "}
          <button type="button" onClick={() => setIssued(null)}>
            Done
          </button>
        </div>
      )}
      <Targets />
    </section>
  );
}

/** One Terraform target (`GET /v1/targets`): where the tenant's savings pull requests go. */
interface Target {
  id: string;
  repository: string;
  base_branch: string;
  path: string;
  app_installation_id: number | null;
  token_ref: string | null;
  state_refs: string[];
  api_url: string | null;
  enabled: boolean;
}

function Targets() {
  const { tenant } = useTenant();
  const qc = useQueryClient();
  const targets = useQuery({
    queryKey: [tenant, "targets"],
    queryFn: () => getJson<Page<Target>>("/v1/targets", { limit: 1000 }),
    retry: false,
  });
  const remove = useMutation({
    mutationFn: (id: string) => del<undefined>(`/v1/targets/${encodeURIComponent(id)}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: [tenant, "targets"] }),
  });
  return (
    <>
      <h2>Terraform targets</h2>
      <p className="muted">
        Where this tenant&apos;s savings pull requests go. Add or change one with <code>PUT /v1/targets/&#123;id&#125;</code> or{" "}
        <code>cloudops targets set</code>; GitHub auth is a reference (an App installation, <code>env:NAME</code> or{" "}
        <code>file:/path</code>), never a token.
      </p>
      {targets.error instanceof ApiError && targets.error.status === 403 ? (
        <p className="muted">Listing targets needs the recommendations:read scope.</p>
      ) : (
        <QueryState q={targets} what="Terraform targets" isEmpty={(d) => d.items.length === 0} empty="No Terraform targets: no pull requests are opened.">
          {(d) => (
            <table className="simple" aria-label="Terraform targets">
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Repository</th>
                  <th scope="col">Branch</th>
                  <th scope="col">Path</th>
                  <th scope="col">Auth</th>
                  <th scope="col">State</th>
                  <th scope="col">Enabled</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((t) => (
                  <tr key={t.id}>
                    <td>
                      <code>{t.id}</code>
                    </td>
                    <td>{t.api_url ? `${t.repository} (${t.api_url})` : t.repository}</td>
                    <td>{t.base_branch}</td>
                    <td>{t.path || "/"}</td>
                    <td className="small">{t.app_installation_id !== null ? `App installation ${t.app_installation_id}` : t.token_ref}</td>
                    <td className="small">{t.state_refs.join(", ") || "none"}</td>
                    <td>{t.enabled ? <span className="badge open">yes</span> : <span className="badge dismissed">no</span>}</td>
                    <td>
                      <button
                        type="button"
                        onClick={() => {
                          if (confirm(`Remove target ${t.id} (${t.repository})? Open pull requests stay open.`)) remove.mutate(t.id);
                        }}
                      >
                        Remove<span className="sr-only"> {t.id}</span>
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </QueryState>
      )}
      {remove.error && <ErrorBox error={remove.error} />}
    </>
  );
}
