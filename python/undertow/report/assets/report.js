// Renders every figure of the page from the embedded JSON (vega-embed compiles each Vega-Lite
// spec in the page; the data is inline, so nothing is fetched), then makes the tables sortable and filterable. Sets body[data-figures] when done.
(function () {
  "use strict";
  var page = JSON.parse(document.getElementById("undertow-data").textContent);
  var jobs = [];
  page.sections.forEach(function (section) {
    section.figures.forEach(function (figure) {
      var element = document.getElementById(figure.id);
      jobs.push(
        vegaEmbed(element, figure.spec, {renderer: "svg", actions: false}).then(function () {
          element.setAttribute("data-rendered", "1");
        })
      );
    });
  });
  Promise.all(jobs).then(
    function () { document.body.setAttribute("data-figures", String(jobs.length)); },
    function (error) { console.error("undertow report: a figure failed to render: " + error); }
  );

  function sortKey(cell) {
    var raw = (cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent).trim();
    return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw) ? parseFloat(raw) : raw.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (header, column) {
      header.addEventListener("click", function () {
        var body = table.tBodies[0];
        var descending = !header.classList.contains("desc");
        table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
        header.classList.add(descending ? "desc" : "asc");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = sortKey(a.cells[column]), y = sortKey(b.cells[column]);
          var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return descending ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    input.addEventListener("input", function () {
      var query = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.style.display = !query || row.textContent.toLowerCase().indexOf(query) >= 0 ? "" : "none";
      });
    });
  });
})();
