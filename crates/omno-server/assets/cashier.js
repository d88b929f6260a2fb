// Hosted cashier (API.md §11.2, §11.4): tells the framing parent the cashier loaded (or why it
// cannot start), offers a Close button, and keeps the balance current by polling state.json.
(function () {
  "use strict";
  var root = document.getElementById("cashier");
  if (!root) { return; }
  var sid = root.getAttribute("data-session-id");
  var allowed = (root.getAttribute("data-allowed-origins") || "").split(" ").filter(Boolean);
  var exponent = parseInt(root.getAttribute("data-exponent") || "2", 10);

  // An amount of the session currency with every decimal, as the server renders it.
  function money(n) {
    var v = Number(n);
    return isFinite(v) ? v.toFixed(exponent) : String(n);
  }

  function parentOrigin() {
    if (location.ancestorOrigins && location.ancestorOrigins.length > 0) {
      return location.ancestorOrigins[0];
    }
    if (document.referrer) {
      try { return new URL(document.referrer).origin; } catch (e) { return null; }
    }
    return null;
  }

  function matches(entry, origin) {
    if (entry === origin) { return true; }
    var wild = /^(https?:\/\/[^\/:]+):\*$/.exec(entry);
    if (wild) {
      return origin === wild[1] || origin.indexOf(wild[1] + ":") === 0;
    }
    return false;
  }

  // "*" when the merchant allows no other origin (then only omno itself can frame the page);
  // otherwise the parent's origin if it is on the list, else nothing is posted.
  function targetOrigin() {
    if (allowed.length === 0) { return "*"; }
    var o = parentOrigin();
    if (!o) { return null; }
    for (var i = 0; i < allowed.length; i++) {
      if (matches(allowed[i], o)) { return o; }
    }
    return null;
  }

  function post(message) {
    if (window.parent === window) { return; }
    var t = targetOrigin();
    if (t === null) { return; }
    window.parent.postMessage(message, t);
  }

  var kyc = root.getAttribute("data-kyc-errors");
  if (kyc) {
    post({ type: "KYC_REQUIRED_FIELD_ERRORS", data: JSON.parse(kyc) });
  } else {
    post({ type: "CASHIER_LOADED", data: { sessionId: sid } });
  }

  var close = document.getElementById("close");
  if (close) {
    close.addEventListener("click", function () {
      post({ type: "CLOSE_IFRAME", data: { sessionId: sid } });
    });
  }

  var version = null;
  function poll() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", "/cashier/" + sid + "/state.json");
    xhr.onload = function () {
      if (xhr.status !== 200) { return; }
      var s;
      try { s = JSON.parse(xhr.responseText); } catch (e) { return; }
      if (s.status === "EXPIRED") { location.reload(); return; }
      var balance = document.getElementById("balance");
      if (balance) { balance.textContent = money(s.balance); }
      var max = document.getElementById("withdraw-max");
      if (max) { max.textContent = money(s.balance); }
      // A balance change can enable or disable the withdraw tab: re-render it.
      if (version !== null && version !== s.balanceVersion && root.getAttribute("data-tab") === "withdraw") {
        var form = document.getElementById("withdraw-form");
        var typing = form && document.activeElement && form.contains(document.activeElement);
        if (!typing) { location.reload(); return; }
      }
      version = s.balanceVersion;
    };
    xhr.send();
  }
  poll();
  setInterval(poll, 5000);
})();
