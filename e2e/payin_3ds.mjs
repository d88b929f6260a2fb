// Real-browser end-to-end test of the hosted payin pages (API.md §11): a customer pays with the
// simulator's 3DS test card in headless Debian Chromium.
//
//   node payin_3ds.mjs <iframeUrls.card URL> <screenshot.png>
//
// Opens the card page, fills 4000000000003220 (future expiry, CVV 737, a name), submits, clicks
// "Complete" on the 3DS challenge, waits for the status page to show SUCCESS and saves a
// full-page screenshot (the card and 3DS pages go next to it as `<name>.card.png` and
// `<name>.3ds.png`). Exits non-zero (with the reason on stderr) on any failure; a screenshot of
// the page as it was is then saved as `<name>.failure.png`.
//
// Chromium is Debian's (`/usr/bin/chromium`, or OMNO_E2E_CHROMIUM); playwright-core never
// downloads a browser. Playwright gives the browser a fresh temporary profile.

import { chromium } from "playwright-core";

const [cardUrl, screenshot] = process.argv.slice(2);
if (!cardUrl || !screenshot) {
  console.error("usage: node payin_3ds.mjs <card page URL> <screenshot.png>");
  process.exit(2);
}
const executablePath = process.env.OMNO_E2E_CHROMIUM || "/usr/bin/chromium";
const STEP_MS = 15000;

/** `<screenshot>` with `.<step>` before `.png`: the intermediate pages. */
function sibling(step) {
  return screenshot.replace(/(\.png)?$/, `.${step}.png`);
}

function log(msg) {
  console.log(`[payin_3ds] ${msg}`);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    // No calls home: this machine has no network beyond localhost.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
  ],
});
let page;
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 520, height: 760 } });
  page = await context.newPage();
  const problems = [];
  // Every request the pages make must succeed (the browser's own favicon probe aside).
  page.on("response", (res) => {
    const path = new URL(res.url()).pathname;
    if (res.status() >= 400 && path !== "/favicon.ico") {
      problems.push(`HTTP ${res.status()} for ${path}`);
    }
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.setDefaultTimeout(STEP_MS);

  log("open card page");
  const r = await page.goto(cardUrl, { waitUntil: "load" });
  if (!r || r.status() !== 200) throw new Error(`card page answered ${r && r.status()}`);
  await page.screenshot({ path: sibling("card"), fullPage: true });
  await page.getByLabel("Card number").fill("4000 0000 0000 3220");
  await page.getByLabel("Expiry month").fill("09");
  await page.getByLabel("Expiry year").fill(String(new Date().getUTCFullYear() + 3));
  await page.getByLabel("CVV").fill("737");
  await page.getByLabel("Cardholder name").fill("Anna Keller");

  log("submit card");
  await Promise.all([
    page.waitForURL(/\/hpp\/payin\/[0-9a-f]{32}\/3ds\?token=/),
    page.getByRole("button", { name: /^Pay / }).click(),
  ]);
  if (page.url().includes("4000")) throw new Error("card number in a URL");

  log("complete 3DS challenge");
  await page.screenshot({ path: sibling("3ds"), fullPage: true });
  await Promise.all([
    page.waitForURL(/\/hpp\/payin\/[0-9a-f]{32}\/status\?token=/),
    page.getByRole("button", { name: "Complete" }).click(),
  ]);

  log("wait for SUCCESS on the status page");
  await page.locator("#status-value", { hasText: /^SUCCESS$/ }).waitFor();
  // The status script ran (it polls status.json once on load) without errors.
  await page.waitForLoadState("networkidle");
  if (problems.length > 0) throw new Error(problems.join("\n"));
  await page.screenshot({ path: screenshot, fullPage: true });
  log(`SUCCESS; screenshot ${screenshot}`);
} catch (e) {
  failed = true;
  console.error(`[payin_3ds] FAILED: ${e && e.stack ? e.stack : e}`);
  if (page) {
    console.error(`[payin_3ds] at ${page.url().replace(/token=[^&]*/, "token=…")}`);
    await page
      .screenshot({ path: sibling("failure"), fullPage: true })
      .catch(() => {});
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
