// gatekeeper review console: new blocks without a reload, and the keyboard. No framework.
(function () {
  "use strict";
  var rows = document.getElementById("rows");
  var live = document.getElementById("live");

  function rowLinks(root) {
    (root || document).querySelectorAll("tr[data-href]").forEach(function (tr) {
      tr.addEventListener("click", function (e) {
        if (e.target.closest("a, button, input, select")) return;
        window.location = tr.getAttribute("data-href");
      });
    });
  }
  rowLinks();

  // the queue asks for blocks indexed after the newest it shows, and puts them on top
  if (rows && live) {
    var poll = parseFloat(live.getAttribute("data-poll")) || 0;
    var after = live.getAttribute("data-after");
    var url = live.getAttribute("data-rows");
    if (poll <= 0) { live.classList.add("off"); live.textContent = "older page: not live"; }
    else {
      setInterval(function () {
        fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(after),
              {credentials: "same-origin", headers: {"Accept": "text/html"}})
          .then(function (r) {
            if (r.status === 401) { live.textContent = "signed out: reload to sign in"; throw new Error("401"); }
            if (!r.ok) throw new Error(r.status);
            after = r.headers.get("X-Newest-Id") || after;
            return r.text();
          })
          .then(function (html) {
            live.classList.remove("off"); live.textContent = "live";
            if (!html.trim()) return;
            var t = document.createElement("tbody");
            t.innerHTML = html;
            var fresh = Array.prototype.slice.call(t.children);
            fresh.reverse().forEach(function (tr) { tr.classList.add("fresh"); rows.insertBefore(tr, rows.firstChild); });
            rowLinks(rows);
            var empty = document.querySelector(".card .empty"); if (empty) empty.remove();
          })
          .catch(function (e) { live.classList.add("off"); if (e.message !== "401") live.textContent = "reconnecting"; });
      }, poll * 1000);
    }
  }

  // keys: g o / g r / g i / g p to go, / to filter, j k to move in the queue, Enter to open
  var selected = -1, pending = null;
  function select(n) {
    var all = rows ? rows.querySelectorAll("tr[data-href]") : [];
    if (!all.length) return;
    selected = Math.max(0, Math.min(all.length - 1, n));
    all.forEach(function (tr) { tr.classList.remove("selected"); });
    all[selected].classList.add("selected");
    all[selected].scrollIntoView({block: "nearest"});
  }
  document.addEventListener("keydown", function (e) {
    if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    var base = document.querySelector(".brand");
    base = base ? base.getAttribute("href").replace(/\/$/, "") : "";
    if (pending === "g") {
      pending = null;
      if (e.key === "o") { window.location = base + "/"; return; }
      if (e.key === "r") { window.location = base + "/review"; return; }
      if (e.key === "i") { window.location = base + "/insights"; return; }
      if (e.key === "p") { window.location = base + "/policy"; return; }
    }
    if (e.key === "g") { pending = "g"; return; }
    if (e.key === "/") {
      var f = document.getElementById("debtor-filter");
      if (f) { e.preventDefault(); f.focus(); }
    } else if (e.key === "j") { select(selected + 1); }
    else if (e.key === "k") { select(selected - 1); }
    else if (e.key === "Enter" && selected >= 0 && rows) {
      var tr = rows.querySelectorAll("tr[data-href]")[selected];
      if (tr) window.location = tr.getAttribute("data-href");
    }
  });
})();
