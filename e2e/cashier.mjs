// Real-browser end-to-end test of the embedded hosted cashier (API.md §6, §11.2, §11.4) in
// headless Debian Chromium.
//
//   node cashier.mjs <checkoutUrl> <artifacts dir> [kyc]
//
// A merchant page is served from another origin (`http://localhost:<port>`, while omno runs on
// `http://127.0.0.1:<port>`); it frames `checkoutUrl` and records every `message` event
// (`{origin, data}`) in `window.__messages`. Inside the frame the script then:
//
//   a. waits for CASHIER_LOADED with the session id;
//   b. deposits 25.50 with the keyboard only (Tab to the amount, type, Tab to "Pay by card",
//      Enter), pays with 4111 1111 1111 1111 and waits for PAYMENT_SUCCESS;
//   c. opens the cashier again, deposits 49.99 with the 3DS card 4000 0000 0000 3220, completes
//      the challenge and waits for the second PAYMENT_SUCCESS;
//   d. goes "Back to the cashier", withdraws 30 to a card and waits for PAYMENT_PENDING
//      (WAITING_FOR_CONFIRMATION) from the payout status page, whose Close button posts
//      CLOSE_IFRAME for the payout;
//   e. opens the cashier again (balance now 70) and clicks its Close button: CLOSE_IFRAME.
//
// With `kyc` (a session of an unverified customer whose router only has KYC-only accounts) it
// instead deposits 10 by card and waits for KYC_REQUIRED_LEVEL_ERRORS followed by
// PAYMENT_FAILED (screenshots `kyc-result-*.png`).
//
// Screenshots of the framed cashier (deposit and withdraw tabs) and of the result pages at 360
// and 1280 px wide go to the artifacts directory; at each of them the framed page must not
// overflow horizontally and every control must lie within its width. Any failed request,
// console error or page error fails the run.
//
// The last line of stdout is `MESSAGES <json>`: every message the merchant page received, in
// order (also printed after a failure). Exits non-zero, with the reason on stderr, on failure
// (then `failure.png` shows the page as it was).
//
// Chromium is Debian's (`/usr/bin/chromium`, or OMNO_E2E_CHROMIUM); playwright-core never
// downloads a browser.

import http from "node:http";
import path from "node:path";
import { chromium } from "playwright-core";

const [checkoutUrl, artifacts, mode] = process.argv.slice(2);
if (!checkoutUrl || !artifacts) {
  console.error("usage: node cashier.mjs <checkoutUrl> <artifacts dir>");
  process.exit(2);
}
const executablePath = process.env.OMNO_E2E_CHROMIUM || "/usr/bin/chromium";
const STEP_MS = 15000;
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 360, height: 780 };
const sessionId = new URL(checkoutUrl).pathname.split("/").pop();
const omnoOrigin = new URL(checkoutUrl).origin;

function log(msg) {
  console.log(`[cashier] ${msg}`);
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// --- the merchant's page, on another origin ------------------------------------------------
const merchantPage = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Merchant shop</title>
<script>
window.__messages = [];
window.addEventListener("message", function (e) {
  window.__messages.push({ origin: e.origin, data: e.data });
});
</script>
<style>
body { margin: 0; font: 14px sans-serif; background: #e9ebee; }
header { padding: 8px 12px; background: #23272f; color: #fff; }
iframe { display: block; width: 100%; height: 720px; border: 0; }
</style>
</head>
<body>
<header>Merchant shop</header>
<iframe id="cashier" title="Cashier" src="${escapeHtml(checkoutUrl)}"></iframe>
</body>
</html>`;

const server = http.createServer((req, res) => {
  if (req.url === "/" || req.url.startsWith("/?")) {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(merchantPage);
  } else {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const merchantUrl = `http://localhost:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    // `localhost` is the merchant's origin and must reach the server above (IPv4 only).
    "--host-resolver-rules=MAP localhost 127.0.0.1",
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
  const context = await browser.newContext({ viewport: WIDE });
  page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  page.on("response", (res) => {
    const p = new URL(res.url()).pathname;
    if (res.status() >= 400 && p !== "/favicon.ico") {
      problems.push(`HTTP ${res.status()} for ${p}`);
    }
  });
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  function checkProblems() {
    if (problems.length > 0) throw new Error(problems.join("\n"));
  }

  const messages = () => page.evaluate(() => window.__messages);
  /** Waits until the merchant page holds `count` messages of `type`; returns the last. */
  async function waitForMessage(type, count = 1) {
    await page.waitForFunction(
      ([t, n]) => window.__messages.filter((m) => m.data && m.data.type === t).length >= n,
      [type, count],
    );
    const all = (await messages()).filter((m) => m.data && m.data.type === type);
    const last = all[all.length - 1];
    if (last.origin !== omnoOrigin) {
      throw new Error(`${type} came from ${last.origin}, not ${omnoOrigin}`);
    }
    return last;
  }

  log(`open the merchant page ${merchantUrl}`);
  const r = await page.goto(merchantUrl, { waitUntil: "load" });
  if (!r || r.status() !== 200) throw new Error(`merchant page answered ${r && r.status()}`);
  const frame = await (await page.$("#cashier")).contentFrame();
  const inFrame = page.frameLocator("#cashier");
  const frameOrigin = await frame.evaluate(() => location.ancestorOrigins[0]);
  if (frameOrigin !== new URL(merchantUrl).origin) {
    throw new Error(`the frame's parent is ${frameOrigin}`);
  }

  /** The framed page does not overflow horizontally; every control lies within its width. */
  async function checkLayout(name) {
    const l = await frame.evaluate(() => {
      const d = document.documentElement;
      const outside = [...document.querySelectorAll("a, button, input, select, label, h1, h2, p")]
        .filter((e) => {
          const b = e.getBoundingClientRect();
          return b.width > 0 && (b.left < -0.5 || b.right > d.clientWidth + 0.5);
        })
        .map((e) => `${e.tagName.toLowerCase()}#${e.id} "${e.textContent.trim().slice(0, 30)}"`);
      return { scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, outside };
    });
    if (l.scrollWidth > l.clientWidth || l.outside.length > 0) {
      const where = `${l.scrollWidth} > ${l.clientWidth}`;
      throw new Error(`${name}: overflows (${where}) ${l.outside.join(", ")}`);
    }
  }
  /** `<name>-1280.png` and `<name>-360.png` of the merchant page with the frame. */
  async function shoot(name) {
    for (const [size, label] of [[WIDE, "1280"], [NARROW, "360"]]) {
      await page.setViewportSize(size);
      await page.waitForTimeout(150); // let the frame re-lay out
      await checkLayout(`${name} at ${label} px`);
      const file = path.join(artifacts, `${name}-${label}.png`);
      await page.screenshot({ path: file, fullPage: true });
    }
    await page.setViewportSize(NARROW);
  }

  if (mode === "kyc") {
    log("kyc: deposit 10 for an unverified customer");
    await waitForMessage("CASHIER_LOADED");
    await inFrame.getByLabel("Amount (EUR)").fill("10");
    await Promise.all([
      frame.waitForURL(/\/hpp\/payin\/[0-9a-f]{32}\/card\?token=/),
      inFrame.getByRole("button", { name: "Pay by card" }).click(),
    ]);
    await inFrame.getByLabel("Card number").fill("4111 1111 1111 1111");
    await inFrame.getByLabel("Expiry month").fill("09");
    await inFrame.getByLabel("Expiry year").fill(String(new Date().getUTCFullYear() + 3));
    await inFrame.getByLabel("CVV").fill("737");
    await Promise.all([
      frame.waitForURL(/\/hpp\/payin\/[0-9a-f]{32}\/status\?token=/),
      inFrame.getByRole("button", { name: "Pay 10.00 EUR" }).click(),
    ]);
    await inFrame.locator("#status-value", { hasText: /^FAILED$/ }).waitFor();
    await waitForMessage("PAYMENT_FAILED");
    const kyc = await waitForMessage("KYC_REQUIRED_LEVEL_ERRORS");
    log(`  KYC_REQUIRED_LEVEL_ERRORS ${JSON.stringify(kyc.data.data)}`);
    const order = (await messages()).map((m) => m.data.type);
    if (order.indexOf("KYC_REQUIRED_LEVEL_ERRORS") > order.indexOf("PAYMENT_FAILED")) {
      throw new Error(`KYC_REQUIRED_LEVEL_ERRORS after PAYMENT_FAILED: ${order}`);
    }
    await shoot("kyc-result");
  } else {
    // (a) ---------------------------------------------------------------------------------------
    log("a. CASHIER_LOADED");
    const loaded = await waitForMessage("CASHIER_LOADED");
    if (loaded.data.data.sessionId !== sessionId) {
      throw new Error(`CASHIER_LOADED for ${JSON.stringify(loaded.data)}`);
    }
    await inFrame.locator("#deposit-amount").waitFor();
    await shoot("cashier");

    // (b) deposit with the keyboard, then a card ------------------------------------------------
    log("b. deposit 25.50 with the keyboard");
    await inFrame.locator("#close").focus();
    let presses = 0;
    while ((await frame.evaluate(() => document.activeElement.id)) !== "deposit-amount") {
      if (++presses > 5) throw new Error("Tab never reached the amount field");
      await page.keyboard.press("Tab");
    }
    await page.keyboard.type("25.50");
    await page.keyboard.press("Tab");
    const onButton = await frame.evaluate(() => document.activeElement.id);
    if (onButton !== "deposit-card") throw new Error(`Tab after the amount went to #${onButton}`);
    await Promise.all([
      frame.waitForURL(/\/hpp\/payin\/[0-9a-f]{32}\/card\?token=/),
      page.keyboard.press("Enter"),
    ]);
    log(`  (${presses} Tab presses from the Close button to the amount)`);
    await inFrame.getByLabel("Card number").fill("4111 1111 1111 1111");
    await inFrame.getByLabel("Expiry month").fill("09");
    await inFrame.getByLabel("Expiry year").fill(String(new Date().getUTCFullYear() + 3));
    await inFrame.getByLabel("CVV").fill("737");
    await inFrame.getByLabel("Cardholder name").fill("Anna Keller");
    await checkLayout("payin card page at 360 px");
    await page.screenshot({ path: path.join(artifacts, "payin-card-360.png"), fullPage: true });
    await Promise.all([
      frame.waitForURL(/\/hpp\/payin\/[0-9a-f]{32}\/status\?token=/),
      inFrame.getByRole("button", { name: "Pay 25.50 EUR" }).click(),
    ]);
    await inFrame.locator("#status-value", { hasText: /^SUCCESS$/ }).waitFor();
    const d1 = await waitForMessage("PAYMENT_SUCCESS", 1);
    log(`  PAYMENT_SUCCESS ${JSON.stringify(d1.data.data)}`);
    await inFrame.getByRole("button", { name: "Close" }).waitFor(); // shown when framed
    await shoot("result");

    // (c) back to the cashier: 3DS deposit ------------------------------------------------------
    log("c. deposit 49.99 with the 3DS card");
    await frame.goto(checkoutUrl);
    await waitForMessage("CASHIER_LOADED", 2);
    await inFrame.getByLabel("Amount (EUR)").fill("49.99");
    await Promise.all([
      frame.waitForURL(/\/hpp\/payin\/[0-9a-f]{32}\/card\?token=/),
      inFrame.getByRole("button", { name: "Pay by card" }).click(),
    ]);
    await inFrame.getByLabel("Card number").fill("4000 0000 0000 3220");
    await inFrame.getByLabel("Expiry month").fill("09");
    await inFrame.getByLabel("Expiry year").fill(String(new Date().getUTCFullYear() + 3));
    await inFrame.getByLabel("CVV").fill("737");
    await Promise.all([
      frame.waitForURL(/\/hpp\/payin\/[0-9a-f]{32}\/3ds\?token=/),
      inFrame.getByRole("button", { name: "Pay 49.99 EUR" }).click(),
    ]);
    await checkLayout("3DS page at 360 px");
    await page.screenshot({ path: path.join(artifacts, "payin-3ds-360.png"), fullPage: true });
    await Promise.all([
      frame.waitForURL(/\/hpp\/payin\/[0-9a-f]{32}\/status\?token=/),
      inFrame.getByRole("button", { name: "Complete" }).click(),
    ]);
    await inFrame.locator("#status-value", { hasText: /^SUCCESS$/ }).waitFor();
    const d2 = await waitForMessage("PAYMENT_SUCCESS", 2);
    log(`  PAYMENT_SUCCESS ${JSON.stringify(d2.data.data)}`);
    if (d2.data.data.transactionId === d1.data.data.transactionId) {
      throw new Error("the second deposit reported the first one");
    }

    // (d) withdraw 30 to a card -----------------------------------------------------------------
    log("d. withdraw 30 to a card");
    // A cashier transaction's result view leads back to the cashier.
    await Promise.all([
      frame.waitForURL(/\/cashier\/[0-9a-f-]{36}\/deposit$/),
      inFrame.getByRole("link", { name: "Back to the cashier" }).click(),
    ]);
    await waitForMessage("CASHIER_LOADED", 3);
    await Promise.all([
      frame.waitForURL(/\/cashier\/[0-9a-f-]{36}\/withdraw$/),
      inFrame.getByRole("link", { name: "Withdraw" }).click(),
    ]);
    await inFrame.locator("#withdraw-amount").waitFor();
    await shoot("cashier-withdraw");
    await inFrame.locator("#withdraw-amount").fill("30");
    await Promise.all([
      frame.waitForURL(/\/hpp\/payout\/[0-9a-f]{32}\/card\?token=/),
      inFrame.getByRole("button", { name: "To a card" }).click(),
    ]);
    await inFrame.getByLabel("Card number").fill("4111 1111 1111 1111");
    await checkLayout("payout card page at 360 px");
    await page.screenshot({ path: path.join(artifacts, "payout-card-360.png"), fullPage: true });
    await Promise.all([
      frame.waitForURL(/\/hpp\/payout\/[0-9a-f]{32}\/status\?token=/),
      inFrame.getByRole("button", { name: "Save card" }).click(),
    ]);
    await inFrame.locator("#status-value", { hasText: /^WAITING_FOR_CONFIRMATION$/ }).waitFor();
    const w1 = await waitForMessage("PAYMENT_PENDING", 1);
    log(`  PAYMENT_PENDING ${JSON.stringify(w1.data.data)}`);
    if (w1.data.data.status !== "WAITING_FOR_CONFIRMATION") {
      throw new Error(`payout reported ${w1.data.data.status}`);
    }
    await shoot("payout-result");
    // The result view's Close button (framed) closes for the payout.
    await inFrame.getByRole("button", { name: "Close" }).click();
    const closedPayout = await waitForMessage("CLOSE_IFRAME", 1);
    if (closedPayout.data.data.transactionId !== w1.data.data.transactionId) {
      throw new Error(`CLOSE_IFRAME ${JSON.stringify(closedPayout.data)}`);
    }

    // (e) the cashier's Close button --------------------------------------------------------------
    log("e. close the cashier");
    await frame.goto(checkoutUrl);
    await waitForMessage("CASHIER_LOADED", 4);
    await inFrame.locator("#balance", { hasText: /^70\.00$/ }).waitFor();
    await inFrame.getByRole("button", { name: "Close cashier" }).click();
    const closed = await waitForMessage("CLOSE_IFRAME", 2);
    if (closed.data.data.sessionId !== sessionId) {
      throw new Error(`CLOSE_IFRAME ${JSON.stringify(closed.data)}`);
    }
  }
  // The status scripts' last polls settle before the problem check.
  await page.waitForTimeout(300);
  checkProblems();
  log("OK");
} catch (e) {
  failed = true;
  console.error(`[cashier] FAILED: ${e && e.stack ? e.stack : e}`);
  if (page) {
    const f = page.frames().find((x) => x !== page.mainFrame());
    if (f) console.error(`[cashier] frame at ${f.url().replace(/token=[^&]*/, "token=…")}`);
    await page
      .screenshot({ path: path.join(artifacts, "failure.png"), fullPage: true })
      .catch(() => {});
  }
} finally {
  let collected = [];
  if (page) collected = await page.evaluate(() => window.__messages).catch(() => []);
  console.log(`MESSAGES ${JSON.stringify(collected)}`);
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
