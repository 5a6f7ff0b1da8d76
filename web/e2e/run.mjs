// End-to-end run of the web UI in a real browser: playwright-core driving Debian's chromium
// against a running `cloudops api` with its workers (the demo stack, started by
// tests/integration/test_web_e2e.py).
//
// env: BASE_URL, TOKEN (every tenant scope), WORK_DIR (result.json + downloads),
//      SHOTS_DIR (screenshots: <page>-desktop.png, <page>-narrow.png), CHROMIUM (default /usr/bin/chromium),
//      UPLOAD_FILE (a billing file to upload on the Ingestion page),
//      TARGET_REPOSITORY (owner/name of the Terraform target added on the Settings page)
// It signs in, reads the overview, explores cost by service over all time and over the last 30
// days and exports the CSV of each, opens a recommendation that has a pull request and reads its
// PR link, dismisses another, uploads UPLOAD_FILE and watches its live progress to `reconciled`
// (the pipeline's workers take it), adds a Terraform target, creates a token, signs in with it,
// revokes it and is sent back to sign-in and refused. Every GraphQL request goes to /graphql
// (result.graphql: who served each, from X-GraphQL-Served-By).
// Each page is checked with axe-core (no serious or critical violations) and for console errors.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const { BASE_URL, TOKEN, WORK_DIR, SHOTS_DIR, UPLOAD_FILE } = process.env;
const TARGET_REPOSITORY = process.env.TARGET_REPOSITORY ?? "acme/e2e-infra";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!BASE_URL || !TOKEN || !WORK_DIR || !SHOTS_DIR || !UPLOAD_FILE) throw new Error("set BASE_URL, TOKEN, WORK_DIR, SHOTS_DIR and UPLOAD_FILE");
mkdirSync(SHOTS_DIR, { recursive: true });

const result = { urls: [], axe: {}, consoleErrors: [], steps: [], graphql: [] };
const step = (s) => {
  result.steps.push(s);
  console.log(`e2e: ${s}`);
};
let expectRefusals = false;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const DESKTOP = { width: 1366, height: 900 };
const NARROW = { width: 390, height: 844 };
const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true, colorScheme: "light" });
const page = await context.newPage();
page.on("console", (m) => {
  if (m.type() !== "error") return;
  const text = m.text();
  // The browser logs refused requests itself; after revoking the signed-in token they are the point.
  if (expectRefusals && /status of 40[13]/.test(text)) return;
  result.consoleErrors.push(`${page.url()}: ${text}`);
});
page.on("pageerror", (e) => result.consoleErrors.push(`${page.url()}: ${e.message}`));
page.on("response", (r) => {
  const u = new URL(r.url());
  if (u.pathname.startsWith("/graphql") && u.pathname !== "/graphql/live") result.graphql.push(`${u.pathname} ${r.headers()["x-graphql-served-by"] ?? "-"} ${r.status()}`);
});
page.on("framenavigated", (f) => {
  if (f === page.mainFrame()) result.urls.push(f.url());
});

async function axe(name) {
  await page.addScriptTag({ content: AXE });
  const found = await page.evaluate(async () => {
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  result.axe[name] = found;
  const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) throw new Error(`axe: ${name} has serious/critical violations: ${JSON.stringify(bad, null, 1)}`);
}

async function shot(name) {
  await page.evaluate(() => window.scrollTo(0, 0)); // the sticky header belongs at the top of a full-page shot
  await page.waitForTimeout(300); // let the chart's canvas paint
  await page.screenshot({ path: path.join(SHOTS_DIR, `${name}-desktop.png`), fullPage: true });
}

async function nav(label) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
}

async function signIn(token) {
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

try {
  // --- sign-in ---
  await page.goto(`${BASE_URL}/`);
  await page.waitForURL(/\/signin/);
  await page.getByLabel("API token").waitFor();
  await shot("signin");
  await axe("signin");
  await signIn(TOKEN);
  await page.getByTestId("tenant").waitFor();
  result.tenant = (await page.getByTestId("tenant").innerText()).trim();
  step(`signed in: ${result.tenant}`);

  // --- overview ---
  const mtd = page.locator('[data-testid^="mtd-"]').first();
  await mtd.waitFor({ timeout: 30_000 });
  result.mtd = (await mtd.innerText()).trim();
  result.asof = (await page.locator(".asof").first().innerText()).trim();
  result.forecast = (await page.locator('[data-testid^="forecast-"]').first().innerText()).trim();
  await page.getByRole("table", { name: "Top movers" }).waitFor({ timeout: 30_000 });
  await page.locator(".chart canvas").first().waitFor();
  step(`overview: month to date ${result.mtd} (${result.asof})`);
  await shot("overview");
  await axe("overview");

  // --- explorer: cost by service, total, over all time then the last 30 days; CSVs; shareable URL; explain ---
  // The export asks the API for the CSV of the question on screen; its file name carries the range.
  const exportCsv = async (file) => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
    const to = path.join(WORK_DIR, file);
    await download.saveAs(to);
    return [to, download.suggestedFilename()];
  };
  await nav("Explorer");
  await page.getByLabel("Granularity").selectOption("total");
  await page.getByRole("combobox", { name: /^Group by/ }).selectOption("ServiceName");
  await page.getByLabel("Range").selectOption("all");
  await page.waitForURL((u) => u.searchParams.get("gran") === "total" && u.searchParams.get("range") === "all");
  await page.getByRole("table", { name: "Cost rows" }).locator("tbody tr").first().waitFor({ timeout: 30_000 });
  [result.csvAllPath, result.csvAllName] = await exportCsv("explorer-all.csv");
  await page.getByLabel("Range").selectOption("30d");
  await page.waitForURL((u) => u.searchParams.get("range") === "30d");
  await page.getByText(/Range ends at the latest data/).waitFor({ timeout: 30_000 });
  await page.getByRole("table", { name: "Cost rows" }).locator("tbody tr").first().waitFor({ timeout: 30_000 });
  result.explorerRange = (await page.locator(".asof").first().innerText()).trim();
  [result.csvPath, result.csvName] = await exportCsv("explorer.csv");
  await page.getByRole("button", { name: "Explain the plan" }).click();
  await page.locator("details.plan").waitFor();
  result.plan = (await page.locator("details.plan summary").innerText()).trim();
  result.shareUrl = page.url();
  if (result.shareUrl.includes(TOKEN)) throw new Error("the token is in the URL");
  // The shareable URL alone brings the same question back.
  await page.goto(`${BASE_URL}/signin`);
  await page.goto(result.shareUrl);
  await page.getByRole("table", { name: "Cost rows" }).locator("tbody tr").first().waitFor({ timeout: 30_000 });
  const gran = await page.getByLabel("Granularity").inputValue();
  if (gran !== "total") throw new Error(`the shared URL lost its granularity: ${gran}`);
  // Keyboard: focus the table region and move through rows with the arrow keys.
  await page.getByRole("table", { name: "Cost rows" }).locator("tbody tr").first().focus();
  await page.keyboard.press("ArrowDown");
  result.explorerRows = await page.getByRole("table", { name: "Cost rows" }).locator("tbody tr[data-index]").count();
  const versionOf = async () => Number(/data version (\d+)/.exec(await page.getByText(/data version \d+/).innerText())?.[1]);
  result.versionBefore = await versionOf();
  step(`explorer: ${result.explorerRows} rows, plan "${result.plan}", url ${result.shareUrl}`);
  await shot("explorer");
  await axe("explorer");

  // --- recommendations: open one that has a PR, dismiss another ---
  await nav("Recommendations");
  const recRows = page.getByRole("table", { name: "Recommendations" }).locator("tbody tr[data-index]");
  await recRows.first().waitFor({ timeout: 30_000 });
  const [withPr, shown] = await recRows.evaluateAll((rows) => [rows.findIndex((r) => r.querySelector(".badge.pr_open")), rows.length]);
  if (withPr < 0) throw new Error(`none of the ${shown} recommendations shown has a pull request`);
  if (shown < 2) throw new Error("one recommendation only: none left to dismiss");
  await recRows.nth(withPr).click();
  const detail = page.getByTestId("recommendation-detail");
  await detail.waitFor();
  result.prHref = await detail.getByTestId("pr-link").getAttribute("href");
  result.opened = new URL(page.url()).searchParams.get("open");
  await detail.locator(".diff").waitFor();
  step(`recommendation ${result.opened}: PR ${result.prHref}`);
  await shot("recommendations");
  await axe("recommendations");
  await recRows.nth(withPr === 0 ? 1 : 0).focus();
  await page.keyboard.press("Enter");
  await page.waitForURL((u) => u.searchParams.get("open") !== result.opened);
  result.dismissed = new URL(page.url()).searchParams.get("open");
  await detail.getByLabel("Reason").fill("e2e: the volume is being retired");
  await detail.getByRole("button", { name: "Dismiss" }).click();
  await page.getByText("Now dismissed").waitFor({ timeout: 15_000 });
  step(`dismissed ${result.dismissed}`);

  // --- ingestion: upload a billing file, then its live progress to reconciled ---
  await nav("Ingestion");
  await page.getByRole("heading", { name: /Live progress/ }).waitFor();
  await page.locator(".live.live").first().waitFor({ timeout: 20_000 });
  await page.getByRole("table", { name: /Files of/ }).waitFor({ timeout: 30_000 });
  await page.getByLabel(/^Billing file for/).setInputFiles(UPLOAD_FILE);
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  const uploadResult = page.getByTestId("upload-result");
  await uploadResult.waitFor({ timeout: 30_000 });
  result.uploaded = await uploadResult.getAttribute("data-file-id");
  result.uploadText = (await uploadResult.innerText()).trim();
  const watched = page.getByTestId("live-files").locator(`[data-file-id="${result.uploaded}"]`);
  await watched.locator(".badge.uploaded").waitFor({ timeout: 10_000 }).catch(() => {}); // a fast pipeline may be past it
  step(`uploaded: ${result.uploadText}`);
  await watched.locator(".badge.reconciled").waitFor({ timeout: 180_000 });
  result.live = (await watched.innerText()).trim();
  step(`live: ${result.live}`);
  await shot("ingestion");
  await axe("ingestion");

  // The load receipt bumped the data version: the live event invalidated the cached cost answers,
  // so the Explorer asks again (a cached answer would be served for 30 s otherwise).
  await nav("Explorer");
  await page.getByLabel("Granularity").selectOption("total"); // the question asked before: same cache key
  await page.waitForFunction(
    (before) => Number(/data version (\d+)/.exec(document.body.innerText)?.[1]) > before,
    result.versionBefore,
    { timeout: 30_000 },
  );
  result.versionAfter = await versionOf();
  step(`data version ${result.versionBefore} -> ${result.versionAfter} after the receipt`);

  // --- settings: add a Terraform target ---
  await nav("Settings");
  await page.getByRole("table", { name: "API tokens" }).waitFor({ timeout: 30_000 });
  const targetForm = page.getByRole("form", { name: "Add a Terraform target" });
  await targetForm.getByLabel("Target id", { exact: true }).fill("e2e-infra");
  await targetForm.getByLabel("Repository", { exact: true }).fill(TARGET_REPOSITORY);
  await targetForm.getByLabel("Path in the repository").fill("envs/prod");
  await targetForm.getByRole("textbox", { name: "Token reference" }).fill("env:E2E_GITHUB_TOKEN");
  await targetForm.getByRole("button", { name: "Save target" }).click();
  await page.getByRole("table", { name: "Terraform targets" }).getByRole("row", { name: /e2e-infra/ }).waitFor({ timeout: 30_000 });
  result.target = "e2e-infra";
  step("target e2e-infra added");
  await shot("settings");
  await axe("settings");

  // --- narrow screenshots of every page ---
  await page.setViewportSize(NARROW);
  for (const [name, url] of [
    ["signin", "/signin"],
    ["overview", "/"],
    ["explorer", new URL(result.shareUrl).pathname + new URL(result.shareUrl).search],
    ["recommendations", `/recommendations?state=all&open=${result.opened}`],
    ["ingestion", "/ingestion"],
    ["settings", "/settings"],
  ]) {
    await page.goto(BASE_URL + url);
    await page.locator("main h1").first().waitFor();
    await page.locator(".state.loading").first().waitFor({ state: "detached", timeout: 30_000 }).catch(() => {});
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(SHOTS_DIR, `${name}-narrow.png`), fullPage: true });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > NARROW.width + 1) throw new Error(`${name} is ${width}px wide at ${NARROW.width}px: it scrolls sideways`);
  }
  await page.setViewportSize(DESKTOP);

  // --- a token created here (shown once), used, revoked: refused at once ---
  await page.goto(`${BASE_URL}/settings`);
  await page.getByLabel("Name").fill("e2e-temporary");
  await page.getByRole("checkbox", { name: "tokens:admin" }).check();
  // The Settings page also lists the tenant's Terraform targets (recommendations:read).
  await page.getByRole("checkbox", { name: "recommendations:read" }).check();
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = (await page.getByTestId("new-token").innerText()).trim();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/signin/);
  await signIn(secret);
  await page.getByTestId("tenant").waitFor();
  await nav("Settings");
  const mine = page.getByRole("row", { name: /e2e-temporary/ });
  await mine.waitFor({ timeout: 30_000 });
  expectRefusals = true;
  page.once("dialog", (d) => void d.accept());
  await mine.getByRole("button", { name: /Revoke/ }).click();
  await page.waitForURL(/\/signin/, { timeout: 30_000 });
  await signIn(secret);
  await page.getByRole("alert").waitFor();
  result.refused = (await page.getByRole("alert").innerText()).trim();
  step(`revoked token refused: ${result.refused}`);
  if (result.urls.some((u) => u.includes(TOKEN) || u.includes(secret))) throw new Error("a token appeared in a URL");
  if (result.consoleErrors.length) throw new Error(`console errors: ${result.consoleErrors.join(" | ")}`);
  result.ok = true;
} catch (e) {
  result.ok = false;
  result.error = String(e?.stack ?? e);
  await page.screenshot({ path: path.join(WORK_DIR, "failure.png"), fullPage: true }).catch(() => {});
  console.error(result.error);
} finally {
  writeFileSync(path.join(WORK_DIR, "result.json"), JSON.stringify(result, null, 2));
  await browser.close();
}
process.exit(result.ok ? 0 : 1);
