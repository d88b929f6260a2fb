// Status page (API.md §11.2, §11.4): polls the status JSON every 2 s until the transaction is
// final; when the status changes the page reloads, so the server renders the new text.
// Pages marked data-report="true" also report the result: postMessage to the framing parent
// (once per event type and transaction), a Close button when framed, and navigation to the
// matching http(s) return URL once the status is final.
(function () {
  var root = document.getElementById("status");
  if (!root) return;
  var url = root.getAttribute("data-url");
  var valueEl = document.getElementById("status-value");
  var shown = root.getAttribute("data-status") || (valueEl ? valueEl.textContent.trim() : "");
  var finals = ["PROCESSED", "REJECTED", "FAILED", "SUCCESS", "DECLINED", "TIMEOUT",
    "REFUNDED", "PARTIALLY_REFUNDED", "REFUND_FAILED"];
  var events = {
    SUCCESS: "PAYMENT_SUCCESS", PROCESSED: "PAYMENT_SUCCESS",
    DECLINED: "PAYMENT_FAILED", FAILED: "PAYMENT_FAILED", TIMEOUT: "PAYMENT_FAILED",
    REJECTED: "PAYMENT_FAILED",
    PENDING: "PAYMENT_PENDING", PENDING_3DS: "PAYMENT_PENDING",
    WAITING_FOR_CONFIRMATION: "PAYMENT_PENDING"
  };
  var reporting = root.getAttribute("data-report") === "true";
  var framed = window.parent !== window;

  // --- target origins (§11.4) -------------------------------------------------------------
  function parseOrigin(s) {
    var m = /^([a-z][a-z0-9+.-]*):\/\/([^/:?#]+|\[[^\]]+\])(?::(\d+|\*))?\/?$/i.exec(s || "");
    if (!m) return null;
    var scheme = m[1].toLowerCase();
    var port = m[3] || (scheme === "https" ? "443" : scheme === "http" ? "80" : "");
    return { scheme: scheme, host: m[2].toLowerCase(), port: port };
  }
  function originMatches(entry, origin) {
    var e = parseOrigin(entry), o = parseOrigin(origin);
    return !!(e && o && e.scheme === o.scheme && e.host === o.host &&
      (e.port === "*" || e.port === o.port));
  }
  function parentOrigin() {
    var a = window.location.ancestorOrigins;
    if (a && a.length > 0) return a[0];
    try {
      if (document.referrer) return new URL(document.referrer).origin;
    } catch (e) { /* no usable referrer */ }
    return null;
  }
  // The origins to post to: "*" when the merchant allows no frame origins (then only omno
  // itself can frame the page); else the parent's origin if it is allowed, or, when the parent
  // is unknown, every allowed origin without a wildcard port (the browser delivers a message
  // only to the one that matches). Never an origin outside the list.
  function targets() {
    var list = (root.getAttribute("data-frame-origins") || "").split(/\s+/).filter(Boolean);
    if (list.length === 0) return ["*"];
    var parent = parentOrigin();
    if (parent && parent !== "null") {
      for (var i = 0; i < list.length; i++) {
        if (originMatches(list[i], parent)) return [parent];
      }
      return [];
    }
    return list.filter(function (e) {
      var p = parseOrigin(e);
      return p && p.port !== "*";
    }).map(function (e) { return e.replace(/\/$/, ""); });
  }
  function post(message) {
    targets().forEach(function (t) {
      try { window.parent.postMessage(message, t); } catch (e) { /* bad target */ }
    });
  }

  // --- once per event type and transaction --------------------------------------------------
  var posted = {};
  function firstTime(key) {
    var k = "omno:posted:" + key;
    try {
      if (window.sessionStorage.getItem(k)) return false;
      window.sessionStorage.setItem(k, "1");
      return true;
    } catch (e) {
      if (posted[k]) return false;
      posted[k] = true;
      return true;
    }
  }

  function navigate(s, type) {
    var target = type === "PAYMENT_SUCCESS" ? root.getAttribute("data-success-url")
      : type === "PAYMENT_FAILED" ? root.getAttribute("data-failure-url") : "";
    if (!target || !/^https?:\/\//i.test(target)) return;
    try {
      var u = new URL(target);
      u.searchParams.set("transactionId", s.id);
      u.searchParams.set("orderId", s.orderId);
      u.searchParams.set("status", s.status);
      window.location.assign(u.toString());
    } catch (e) { /* not a URL */ }
  }

  // KYC_REQUIRED_LEVEL_ERRORS data, set by the server for a cashier transaction that failed
  // only because every candidate account requires a verified customer.
  var kycLevel = null;
  try {
    var k = root.getAttribute("data-kyc-level-errors");
    if (k) kycLevel = JSON.parse(k);
  } catch (e) { kycLevel = null; }

  function report(s) {
    var type = events[s.status];
    if (!type) return;
    if (framed && type === "PAYMENT_FAILED" && kycLevel && firstTime(s.id + ":KYC_REQUIRED_LEVEL_ERRORS")) {
      post({ type: "KYC_REQUIRED_LEVEL_ERRORS", data: kycLevel });
    }
    if (framed && firstTime(s.id + ":" + type)) {
      post({
        type: type,
        data: { transactionId: s.id, status: s.status, currency: s.currency,
          orderId: s.orderId, amount: s.amount }
      });
    }
    if (finals.indexOf(s.status) >= 0) navigate(s, type);
  }

  if (reporting && framed) {
    var close = document.getElementById("close");
    if (close) {
      close.hidden = false;
      close.addEventListener("click", function () {
        post({ type: "CLOSE_IFRAME", data: { transactionId: root.getAttribute("data-id") } });
      });
    }
  }

  // --- polling ------------------------------------------------------------------------------
  function poll() {
    fetch(url, { cache: "no-store" }).then(function (r) {
      if (r.status === 403 || r.status === 404) return null; // link expired: stop polling
      if (!r.ok) throw new Error("status " + r.status);
      return r.json();
    }).then(function (s) {
      if (!s) return;
      if (s.status !== shown) {
        // Re-render with the new status (its text, and the reporting below on the new page).
        window.location.replace(window.location.href);
        return;
      }
      if (reporting) report(s);
      if (finals.indexOf(s.status) < 0) setTimeout(poll, 2000);
    }).catch(function () { setTimeout(poll, 2000); });
  }
  if (reporting) {
    // Report what the page shows at once, then keep polling until final.
    poll();
  } else if (root.getAttribute("data-final") !== "true") {
    setTimeout(poll, 2000);
  }
})();
