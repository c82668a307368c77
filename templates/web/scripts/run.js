// Run page: polls the run's progress and updates the counts and buttons.
(function () {
  var box = document.getElementById('progress');
  if (!box || box.dataset.done === 'yes') return;
  function tick() {
    fetch(box.dataset.url, {credentials: 'same-origin', cache: 'no-store'})
      .then(function (r) { return r.json(); })
      .then(function (p) {
        var status = document.getElementById('run-status');
        status.textContent = p.status;
        status.className = 'badge status-' + p.status;
        document.getElementById('pause-reason').textContent = p.pause_reason;
        ['sent', 'failed', 'bounced', 'skipped'].forEach(function (k) {
          document.getElementById('count-' + k).textContent = p.counts[k];
        });
        document.getElementById('count-pending').textContent = p.pending;
        var bar = document.getElementById('run-bar');
        bar.max = p.total || 1; bar.value = p.total - p.pending;
        document.getElementById('action-pause').hidden = p.status !== 'sending';
        document.getElementById('action-resume').hidden = p.status !== 'paused';
        document.getElementById('action-retry').hidden = !(p.counts.failed > 0);
        if (p.done || p.status === 'paused') { box.dataset.done = 'yes'; return; }
        setTimeout(tick, 700);
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  setTimeout(tick, 300);
})();
