import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError, SCOPES, del, getJson, postJson, type Page, type Token } from "../api";
import { useTenant } from "../auth";
import { SimpleTable } from "../components/SimpleTable";
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
            <SimpleTable
              label="API tokens"
              rows={d.items}
              rowKey={(t) => t.id}
              columns={[
                { id: "name", header: "Name", cell: (t) => t.name },
                { id: "id", header: "Id", cell: (t) => <code>{t.id}</code> },
                { id: "scopes", header: "Scopes", small: true, cell: (t) => t.scopes.join(", ") },
                { id: "created", header: "Created", cell: (t) => formatDate(t.created_at) },
                { id: "expires", header: "Expires", cell: (t) => (t.expires_at ? formatDate(t.expires_at) : "never") },
                { id: "used", header: "Last used", cell: (t) => formatDate(t.last_used_at) },
                {
                  id: "state",
                  header: "State",
                  cell: (t) => (t.revoked_at ? <span className="badge dismissed">revoked</span> : <span className="badge open">active</span>),
                },
                {
                  id: "actions",
                  header: "Actions",
                  srHeader: true,
                  cell: (t) =>
                    !t.revoked_at && (
                      <button
                        type="button"
                        onClick={() => {
                          if (confirm(`Revoke token ${t.name} (${t.id})? Clients using it stop working at once.`)) revoke.mutate(t.id);
                        }}
                      >
                        Revoke<span className="sr-only"> {t.name}</span>
                      </button>
                    ),
                },
              ]}
            />
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
  /** The tenant's own GitHub App (with the reference to its private key); null: the deployment's App. */
  app_id: number | null;
  app_key_ref: string | null;
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
        Where this tenant&apos;s savings pull requests go (also <code>PUT /v1/targets/&#123;id&#125;</code> and{" "}
        <code>cloudops targets set</code>). GitHub auth is a reference (an App installation, <code>env:NAME</code> or{" "}
        <code>file:/path</code>), never a token.
      </p>
      {targets.error instanceof ApiError && targets.error.status === 403 ? (
        <p className="muted">Listing targets needs the recommendations:read scope.</p>
      ) : (
        <QueryState q={targets} what="Terraform targets" isEmpty={(d) => d.items.length === 0} empty="No Terraform targets: no pull requests are opened.">
          {(d) => (
            <SimpleTable
              label="Terraform targets"
              rows={d.items}
              rowKey={(t) => t.id}
              columns={[
                { id: "id", header: "Id", cell: (t) => <code>{t.id}</code> },
                { id: "repo", header: "Repository", cell: (t) => (t.api_url ? `${t.repository} (${t.api_url})` : t.repository) },
                { id: "branch", header: "Branch", cell: (t) => t.base_branch },
                { id: "path", header: "Path", cell: (t) => t.path || "/" },
                {
                  id: "auth",
                  header: "Auth",
                  small: true,
                  cell: (t) =>
                    t.app_installation_id === null
                      ? t.token_ref
                      : `App installation ${t.app_installation_id}` + (t.app_id === null ? "" : ` (App ${t.app_id}, key ${t.app_key_ref})`),
                },
                { id: "state", header: "State", small: true, cell: (t) => t.state_refs.join(", ") || "none" },
                {
                  id: "enabled",
                  header: "Enabled",
                  cell: (t) => (t.enabled ? <span className="badge open">yes</span> : <span className="badge dismissed">no</span>),
                },
                {
                  id: "actions",
                  header: "Actions",
                  srHeader: true,
                  cell: (t) => (
                    <button
                      type="button"
                      onClick={() => {
                        if (confirm(`Remove target ${t.id} (${t.repository})? Open pull requests stay open.`)) remove.mutate(t.id);
                      }}
                    >
                      Remove<span className="sr-only"> {t.id}</span>
                    </button>
                  ),
                },
              ]}
            />
          )}
        </QueryState>
      )}
      {remove.error && <ErrorBox error={remove.error} />}
      <TargetForm />
    </>
  );
}

/** Create (or replace, same id) a Terraform target: `PUT /v1/targets/{id}` (recommendations:write). */
function TargetForm() {
  const { tenant } = useTenant();
  const qc = useQueryClient();
  const [form, setForm] = useState({ id: "", repository: "", base_branch: "main", path: "", auth: "ref", app: "", app_id: "", app_key_ref: "", token_ref: "", state_refs: "", api_url: "" });
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const save = useMutation({
    mutationFn: () =>
      postJson<Target>(
        `/v1/targets/${encodeURIComponent(form.id.trim())}`,
        {
          repository: form.repository.trim(),
          base_branch: form.base_branch.trim() || "main",
          path: form.path.trim(),
          app_installation_id: form.auth === "app" ? Number(form.app) : null,
          token_ref: form.auth === "ref" ? form.token_ref.trim() : null,
          app_id: form.auth === "app" && form.app_id.trim() ? Number(form.app_id) : null,
          app_key_ref: form.auth === "app" && form.app_key_ref.trim() ? form.app_key_ref.trim() : null,
          state_refs: form.state_refs.split(",").map((x) => x.trim()).filter(Boolean),
          api_url: form.api_url.trim() || null,
          enabled: true,
        },
        "PUT",
      ),
    onSuccess: () => void qc.invalidateQueries({ queryKey: [tenant, "targets"] }),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  // An App installation uses the tenant's own App (its id and key reference, both) or the deployment's (neither).
  const ownApp = form.app_id.trim() !== "" || form.app_key_ref.trim() !== "";
  const appReady = /^\d+$/.test(form.app) && (!ownApp || (/^\d+$/.test(form.app_id.trim()) && /^(env|file):.+/.test(form.app_key_ref.trim())));
  const ready = form.id.trim() && /^[^/\s]+\/[^/\s]+$/.test(form.repository.trim()) && (form.auth === "app" ? appReady : form.token_ref.trim());
  return (
    <>
      <h3>Add a Terraform target</h3>
      <form className="token-form" onSubmit={submit} aria-label="Add a Terraform target">
        <label>
          Target id
          <input value={form.id} onChange={set("id")} required placeholder="infra" />
        </label>
        <label>
          Repository
          <input value={form.repository} onChange={set("repository")} required placeholder="owner/name" />
        </label>
        <label>
          Base branch
          <input value={form.base_branch} onChange={set("base_branch")} />
        </label>
        <label>
          Path in the repository
          <input value={form.path} onChange={set("path")} placeholder="(the root)" />
        </label>
        <fieldset>
          <legend>GitHub auth</legend>
          <label className="check">
            <input type="radio" name="auth" value="ref" checked={form.auth === "ref"} onChange={set("auth")} /> Token reference
          </label>
          <label className="check">
            <input type="radio" name="auth" value="app" checked={form.auth === "app"} onChange={set("auth")} /> GitHub App installation
          </label>
        </fieldset>
        {form.auth === "ref" ? (
          <label>
            Token reference
            <input value={form.token_ref} onChange={set("token_ref")} placeholder="env:GITHUB_TOKEN or file:/run/secrets/github" />
          </label>
        ) : (
          <>
            <label>
              App installation id
              <input value={form.app} onChange={set("app")} inputMode="numeric" />
            </label>
            <label>
              App id (empty: the deployment&apos;s App)
              <input value={form.app_id} onChange={set("app_id")} inputMode="numeric" />
            </label>
            <label>
              App private key reference
              <input value={form.app_key_ref} onChange={set("app_key_ref")} placeholder="env:GITHUB_APP_KEY or file:/run/secrets/app.pem" />
            </label>
          </>
        )}
        <label>
          Terraform state (comma-separated)
          <input value={form.state_refs} onChange={set("state_refs")} placeholder="s3://tf-state/infra/terraform.tfstate" />
        </label>
        <label>
          GitHub API URL (GitHub Enterprise only)
          <input value={form.api_url} onChange={set("api_url")} placeholder="https://github.example.com/api/v3" />
        </label>
        <button type="submit" disabled={!ready || save.isPending}>
          Save target
        </button>
      </form>
      {save.error && <ErrorBox error={save.error} />}
      {save.data && !save.isPending && (
        <p role="status" className="ok">
          Saved target <code>{save.data.id}</code> ({save.data.repository}).
        </p>
      )}
    </>
  );
}
