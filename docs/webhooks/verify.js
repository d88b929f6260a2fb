// Verify an omno webhook signature (X-Omno-Signature: t=<unix>,v1=<hex>).
// Usage: node verify.js SECRET SIGNATURE_HEADER < raw_body   (exit 0 = valid)
const crypto = require("crypto");

function verify(secret, header, body, toleranceSecs = 300) {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2)));
  const t = parts.t, v1 = parts.v1;
  if (!t || !v1 || !/^\d+$/.test(t)) return false;
  if (Math.abs(Date.now() / 1000 - Number(t)) > toleranceSecs) return false; // stale
  const expected = crypto.createHmac("sha256", secret).update(`${t}.`).update(body).digest("hex");
  const a = Buffer.from(expected), b = Buffer.from(v1);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  const ok = verify(process.argv[2], process.argv[3], Buffer.concat(chunks));
  console.log(ok ? "valid" : "invalid");
  process.exit(ok ? 0 : 1);
});
