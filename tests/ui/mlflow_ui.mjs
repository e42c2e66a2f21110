// Drives the MLflow UI in headless Chromium as a person comparing runs does.
//
//   node tests/ui/mlflow_ui.mjs SPEC.json
//
// SPEC.json (written by tests/test_mlflow_ui.py):
//   {
//     "url": "http://127.0.0.1:PORT",         // a running `mlflow server`
//     "experiment_id": "1",
//     "printed_link": "http://.../#/experiments/1/runs?workflowType=machine_learning",
//     "screenshots": "/tmp/.../shots",         // folder for the PNGs
//     "chromium": "/usr/bin/chromium",         // optional, this is the default
//     "parents": [                             // the parent run expanded first, then the others
//       {"run_id": "...", "name": "logistic_regression-breast_cancer",
//        "training": "breast_cancer-training (<digest>)",  // its Dataset cell shows this
//        "children": [{"run_id": "...", "name": "trial-000"}, ...]},
//       ...
//     ],
//     "eda_file": "eda.md",                    // opened under the parent's eda/ folder
//     "optuna_file": "optimization_history.png"  // opened under its optuna/ folder
//   }
//
// Steps: the link mlengine prints ("Compare runs: ... then open LINK") shows the runs
// table -> the runs table lists every parent (children collapsed), each with its training
// data's name and digest in the Dataset column -> expanding the first parent
// shows its trial runs and only those -> its run page lists them as child runs -> its
// Artifacts tab has eda/ and optuna/ -> eda/EDA_FILE and optuna/OPTUNA_FILE preview.
// A screenshot after each step. Exit 0 and a JSON summary on stdout, or exit 1 with the step
// that failed and what the page showed (plus failure.png).
//
// The MLflow 3.17 selectors this relies on (fix them here after an MLflow upgrade):
//   runs table (ag-grid)   [role="row"][row-id="<run id>"]  (one per pinned/centre container)
//   run name cell          [role="gridcell"][col-id="attributes.`Run Name`"]
//   dataset cell           [role="gridcell"][col-id="attributes.`Dataset`"] ("NAME (DIGEST)")
//   nested-runs expander   the <button> in the parent's run name cell (+/- icon, no label)
//   run page child runs    [data-testid="key-value-Child runs"] a
//   run page tabs          getByRole("tab", {name: "Artifacts"})
//   artifact tree          [data-testid="artifact-tree-node"][artifact-name="<basename>"]
//   artifact preview       its title is the artifact path ("eda/eda.md"); images as
//                          img[alt="<path>"]
//   assistant side panel   [data-component-id="mlflow.assistant.chat_panel.close"] (closed
//                          if present, for roomier screenshots; optional)

import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const TIMEOUT = 90_000; // first load of the React app can be slow on a busy 2-core machine

const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const shots = spec.screenshots;
fs.mkdirSync(shots, { recursive: true });
const found = { steps: [], screenshots: [] };

const browser = await chromium.launch({
  executablePath: spec.chromium || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
page.setDefaultTimeout(TIMEOUT);
const consoleErrors = [];
page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text().slice(0, 300)));
page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${String(e).slice(0, 300)}`));

const rowSel = (id) => `[role="row"][row-id="${id}"]`;
const nameCellSel = (id) => `${rowSel(id)} [role="gridcell"][col-id="attributes.\`Run Name\`"]`;
const datasetCellSel = (id) => `${rowSel(id)} [role="gridcell"][col-id="attributes.\`Dataset\`"]`;
const treeNode = (name) =>
  page.locator(`[data-testid="artifact-tree-node"][artifact-name="${name}"]`);

async function shot(name) {
  const file = path.join(shots, name);
  await page.screenshot({ path: file });
  found.screenshots.push(file);
}

async function visibleRows() {
  // What the runs table shows: run id and the text of its run name cell.
  return page
    .locator('[role="row"][row-id] [role="gridcell"][col-id="attributes.`Run Name`"]')
    .evaluateAll((cells) =>
      cells.map((c) => ({
        run_id: c.closest('[role="row"]').getAttribute("row-id"),
        index: Number(c.closest('[role="row"]').getAttribute("row-index")),
        name: c.innerText.replace(/\s+/g, " ").trim(),
      })),
    )
    // ag-grid keeps rows in DOM order of rendering, not display order: sort by row-index
    .then((rows) => rows.sort((a, b) => a.index - b.index))
    .catch(() => []);
}

async function whatThePageShows() {
  const seen = { url: page.url() };
  seen.rows = await visibleRows();
  seen.artifact_nodes = await page
    .locator('[data-testid="artifact-tree-node"]')
    .evaluateAll((els) => els.map((e) => e.getAttribute("artifact-name")))
    .catch(() => []);
  seen.tabs = await page.getByRole("tab").allInnerTexts().catch(() => []);
  seen.console_errors = consoleErrors.slice(-10);
  return seen;
}

async function step(name, fn) {
  try {
    const result = await fn();
    found.steps.push({ step: name, ...(result || {}) });
  } catch (error) {
    const seen = await whatThePageShows();
    await page.screenshot({ path: path.join(shots, "failure.png") }).catch(() => {});
    console.error(`FAILED at step "${name}": ${error.message.split("\n")[0]}`);
    console.error(`found so far: ${JSON.stringify(found, null, 2)}`);
    console.error(`the page shows: ${JSON.stringify(seen, null, 2)}`);
    await browser.close();
    process.exit(1);
  }
}

async function closeAssistant() {
  const close = page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]');
  if (await close.isVisible().catch(() => false)) await close.click().catch(() => {});
}

const [parent, ...others] = spec.parents;
const expId = spec.experiment_id;

await step("the link mlengine prints opens on the training runs", async () => {
  // Where the bare experiment URL lands is recorded, not required: MLflow 3.18 follows the
  // browser's workflow toggle (GenAI by default), not the experiment's kind tag.
  await page.goto(`${spec.url}/#/experiments/${expId}`);
  await page.waitForURL(/\/experiments\/\d+\/\w+/);
  const bare = page.url();
  await page.goto(spec.printed_link);
  for (const p of spec.parents) await page.locator(nameCellSel(p.run_id)).waitFor();
  await closeAssistant();
  await shot("00-experiment.png");
  return { url: page.url(), bare_url_lands_on: bare };
});

await step("runs list shows every parent run and its dataset, children collapsed", async () => {
  await page.goto(`${spec.url}/#/experiments/${expId}/runs`);
  const datasets = [];
  for (const p of spec.parents) {
    const cell = page.locator(nameCellSel(p.run_id));
    await cell.waitFor({ state: "visible" });
    const text = (await cell.innerText()).trim();
    if (!text.includes(p.name)) throw new Error(`row ${p.run_id} is named "${text}", not ${p.name}`);
    const dataset = (await page.locator(datasetCellSel(p.run_id)).innerText()).trim();
    if (!dataset.includes(p.training)) {
      throw new Error(`row ${p.run_id}'s Dataset cell is "${dataset}", without ${p.training}`);
    }
    datasets.push(dataset.split("\n")[0]);
  }
  await closeAssistant();
  const rows = await visibleRows();
  const shown = new Set(rows.map((r) => r.run_id));
  const early = spec.parents.flatMap((p) => p.children).filter((c) => shown.has(c.run_id));
  if (early.length) throw new Error(`trial runs shown before expanding: ${JSON.stringify(early)}`);
  await shot("01-runs.png");
  return { rows, datasets };
});

await step(`expanding ${parent.name} shows its trial runs`, async () => {
  await page.locator(nameCellSel(parent.run_id)).locator("button").first().click();
  for (const c of parent.children) {
    const cell = page.locator(nameCellSel(c.run_id));
    await cell.waitFor({ state: "visible" });
    const text = (await cell.innerText()).trim();
    if (!text.includes(c.name)) throw new Error(`child row ${c.run_id} is named "${text}"`);
  }
  const rows = await visibleRows();
  const shown = new Set(rows.map((r) => r.run_id));
  const stray = others.flatMap((p) => p.children).filter((c) => shown.has(c.run_id));
  if (stray.length) throw new Error(`other parents' trials shown too: ${JSON.stringify(stray)}`);
  // The children sit right under their parent (the UI's nesting), not elsewhere in the table.
  const ids = rows.map((r) => r.run_id);
  const at = ids.indexOf(parent.run_id);
  const below = new Set(ids.slice(at + 1, at + 1 + parent.children.length));
  const misplaced = parent.children.filter((c) => !below.has(c.run_id));
  if (misplaced.length) throw new Error(`trials not under their parent: ${JSON.stringify(ids)}`);
  await shot("02-expanded.png");
  return { rows };
});

await step(`${parent.name}'s run page lists its child runs`, async () => {
  await page.locator(`${rowSel(parent.run_id)} a[href$="/runs/${parent.run_id}"]`).first().click();
  await page.waitForURL(new RegExp(`/runs/${parent.run_id}`));
  await page.getByRole("heading", { name: parent.name }).first().waitFor();
  const childLinks = page.locator('[data-testid="key-value-Child runs"] a');
  await childLinks.first().waitFor();
  const links = await childLinks.evaluateAll((as) =>
    as.map((a) => ({ name: a.innerText.trim(), href: a.getAttribute("href") })),
  );
  for (const c of parent.children) {
    if (!links.some((l) => l.name === c.name && l.href.endsWith(`/runs/${c.run_id}`))) {
      throw new Error(`child run ${c.name} (${c.run_id}) not listed: ${JSON.stringify(links)}`);
    }
  }
  await closeAssistant();
  await shot("03-run-page.png");
  return { child_runs: links };
});

await step("its Artifacts tab has the eda and optuna folders", async () => {
  await page.getByRole("tab", { name: "Artifacts" }).click();
  await treeNode("eda").waitFor();
  await treeNode("optuna").waitFor();
  const nodes = await page
    .locator('[data-testid="artifact-tree-node"]')
    .evaluateAll((els) => els.map((e) => e.getAttribute("artifact-name")));
  await shot("04-artifacts.png");
  return { artifact_nodes: nodes };
});

await step(`eda/${spec.eda_file} opens`, async () => {
  await treeNode("eda").click();
  await treeNode(spec.eda_file).click();
  await page.getByText(`eda/${spec.eda_file}`, { exact: true }).first().waitFor();
  await page.getByRole("heading", { name: "EDA report" }).first().waitFor();
  await shot("05-eda.png");
});

await step(`optuna/${spec.optuna_file} opens`, async () => {
  await treeNode("optuna").click();
  await treeNode(spec.optuna_file).click();
  const img = page.locator(`img[alt="optuna/${spec.optuna_file}"]`).first();
  await img.waitFor();
  await page.waitForFunction(
    (el) => el.complete && el.naturalWidth > 0,
    await img.elementHandle(),
    { timeout: TIMEOUT },
  );
  const width = await img.evaluate((el) => el.naturalWidth);
  await shot("06-optuna.png");
  return { image_width: width };
});

await browser.close();
console.log(JSON.stringify(found, null, 2));
