// Placeholder until the dashboard page lands (helper `page` owns web/).
'use strict';
async function poll() {
  const response = await fetch('api/overview');
  document.getElementById('overview').textContent = JSON.stringify(await response.json(), null, 2);
}
setInterval(poll, 1000);
poll();
