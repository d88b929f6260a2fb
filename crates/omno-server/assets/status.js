// Polls the status JSON every 2 s until the transaction is final (API.md §11.2).
(function () {
  var root = document.getElementById("status");
  if (!root) return;
  var url = root.getAttribute("data-url");
  var finals = ["PROCESSED", "REJECTED", "FAILED", "SUCCESS", "DECLINED", "TIMEOUT"];
  function poll() {
    fetch(url, { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
      document.getElementById("status-value").textContent = s.status;
      if (s.statusReason && s.statusReason.reason) {
        document.getElementById("status-text").textContent = s.statusReason.reason;
      }
      if (finals.indexOf(s.status) < 0) setTimeout(poll, 2000);
    }).catch(function () { setTimeout(poll, 2000); });
  }
  if (root.getAttribute("data-final") !== "true") setTimeout(poll, 2000);
})();
