/* The console's only script: sortable and searchable tables, a searchable time-zone field and
   "tick all" for bulk actions. Every page works without it. */
(function () {
  'use strict';

  function cellText(row, index) {
    var cell = row.cells[index];
    return cell ? cell.textContent.trim() : '';
  }

  function compare(a, b) {
    var x = parseFloat(a.replace(/[^0-9.\-]/g, '')), y = parseFloat(b.replace(/[^0-9.\-]/g, ''));
    if (/^-?[0-9.,]+$/.test(a) && /^-?[0-9.,]+$/.test(b) && !isNaN(x) && !isNaN(y)) return x - y;
    return a.localeCompare(b, undefined, {numeric: true, sensitivity: 'base'});
  }

  function sortable(table) {
    var head = table.tHead;
    if (!head || !table.tBodies.length) return;
    Array.prototype.forEach.call(head.rows[0].cells, function (th, index) {
      if (th.hasAttribute('data-nosort')) return;
      th.classList.add('sortable');
      th.tabIndex = 0;
      th.setAttribute('aria-sort', 'none');
      function sort() {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > 1; });
        var ascending = th.getAttribute('aria-sort') !== 'ascending';
        rows.sort(function (r1, r2) {
          var order = compare(cellText(r1, index), cellText(r2, index));
          return ascending ? order : -order;
        });
        Array.prototype.forEach.call(head.rows[0].cells, function (other) {
          if (other.classList.contains('sortable')) other.setAttribute('aria-sort', 'none');
        });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
    });
  }

  function searchable(table) {
    var wrap = table.closest('.tablewrap') || table;
    var box = document.createElement('input');
    box.type = 'search';
    box.className = 'tablefilter';
    box.placeholder = 'Search this table';
    box.setAttribute('aria-label', 'Search this table');
    wrap.parentNode.insertBefore(box, wrap);
    box.addEventListener('input', function () {
      var needle = box.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = needle !== '' && row.textContent.toLowerCase().indexOf(needle) === -1;
      });
    });
  }

  function zoneSearch(select) {
    var box = document.createElement('input');
    box.type = 'search';
    box.className = 'zonefilter';
    box.placeholder = 'Search time zones (e.g. Berlin)';
    box.setAttribute('aria-label', 'Search time zones');
    select.parentNode.insertBefore(box, select);
    box.addEventListener('input', function () {
      var needle = box.value.trim().toLowerCase().replace(/ /g, '_');
      var first = null;
      Array.prototype.forEach.call(select.options, function (option) {
        var match = needle === '' || option.value.toLowerCase().indexOf(needle) !== -1;
        option.hidden = !match;
        if (match && first === null) first = option;
      });
      if (needle !== '' && first !== null) select.value = first.value;
    });
  }

  document.querySelectorAll('table[data-sortable]').forEach(sortable);
  document.querySelectorAll('table[data-filter]').forEach(searchable);
  document.querySelectorAll('select[name=timezone], select[name=default_timezone]').forEach(zoneSearch);
  var all = document.getElementById('tick-all');
  if (all) {
    all.addEventListener('change', function () {
      document.querySelectorAll('input[name=emails]').forEach(function (box) { box.checked = all.checked; });
    });
  }
})();
