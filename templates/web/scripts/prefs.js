// Preferences form: the browser's time zone preselected, the weekday shown for weekly only.
(function () {
  var zone = document.getElementById('timezone');
  if (zone && zone.dataset.fill === 'browser') {
    try {
      var guess = Intl.DateTimeFormat().resolvedOptions().timeZone;
      for (var i = 0; i < zone.options.length; i++) {
        if (zone.options[i].value === guess) { zone.value = guess; break; }
      }
    } catch (e) { /* the server's default stays selected */ }
  }
  var cadence = document.getElementById('cadence');
  var weekday = document.getElementById('weekday-field');
  function sync() { weekday.style.display = cadence.value === 'weekly' ? '' : 'none'; }
  if (cadence && weekday) { cadence.addEventListener('change', sync); sync(); }
})();
