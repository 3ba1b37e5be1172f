/** The page's style and its one script (constants: nothing of a request reaches them). */

export const STYLE = `
body{font:14px system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:8px 16px}header a{color:#fff;font-weight:bold;text-decoration:none}
.live{float:right;font-size:12px;opacity:.8}
main{padding:12px 16px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 12px;margin:10px 0}
h2{font-size:15px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #eef0f3}
.ver{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-weight:600;text-shadow:0 0 2px #0006}
.phase{padding:1px 6px;border-radius:3px;background:#e7eaee;font-size:12px}
.phase.running{background:#cfe3ff}.phase.success{background:#cdeccd}.phase.failure{background:#f8c9c9}.phase.aborted{background:#f5dfb5}
.spin{display:inline-block;width:8px;height:8px;margin-right:4px;border:2px solid #2b6cd4;border-top-color:transparent;border-radius:50%;animation:s 1s linear infinite}
@keyframes s{to{transform:rotate(360deg)}}
.minimap i,.legend i{display:inline-block;width:8px;height:12px;margin-right:1px}
.legend span{margin-right:12px}.legend i{margin-right:4px}
.vmap .lane,.batch{display:flex;align-items:center;gap:2px;margin:3px 0}
.lane-name{width:150px;font-size:12px;color:#555}
.cell{width:14px;height:14px;border-radius:2px}.cell.failed{outline:2px solid #d22}
.bar i{display:inline-block;width:12px;height:10px;background:#e2e5e9;margin-right:1px}.bar i.done{background:#3a3}.bar i.failed{background:#d22}
.chain{display:inline-flex;gap:1px}.step{font-weight:normal;font-size:11px;padding:0 4px;background:#cdeccd}
.step.running{background:#cfe3ff}.step.failed{background:#d22;color:#fff}
.progress{height:6px;background:#e2e5e9;border-radius:3px}.progress div{height:6px;background:#3a3;border-radius:3px}
tr.way-back td{color:#8a4b00;font-size:12px}.err{color:#c11}.warn{color:#8a4b00}
.log{font:12px ui-monospace,monospace;list-style:none;padding:0;max-height:320px;overflow:auto}
.log li.error{color:#c11}.log li.warn{color:#8a4b00}.log time{color:#888}
.road{list-style:none;padding:0}.road li.failure,.road li.aborted{opacity:.8}
.timeline{margin-top:8px}.tl-label{font-size:11px;fill:#555}.tl-done{fill:#3a3}.tl-running{fill:#4a8ae8}.tl-failed{fill:#d22}
.tl-brake{stroke:#d22;stroke-width:2;stroke-dasharray:4 2}.tl-brake-label{font-size:11px;fill:#d22}
.warn-box{background:#fff5e0;border-color:#e8c37a;color:#5c3b00}.op-failure{background:#fdecec;border-color:#e3a0a0;color:#7a1010}.op-failure p{margin:4px 0 0}
.buttons{display:flex;gap:8px}.op{font-size:14px;padding:4px 14px}
a.op-link{border:1px solid #2b6cd4;border-radius:4px;color:#2b6cd4;text-decoration:none}
.problems{border-color:#e7a0a0;background:#fff6f6}td.env .phase{font-size:11px}
`;

/** The home page's filter by name: all a static export runs (no request leaves the page). */
export const FILTER_JS = `
(function(){
  function filter(){var f=document.getElementById('filter');if(!f)return;
    var q=f.value.toLowerCase();document.querySelectorAll('tr.group-row').forEach(function(r){
      r.style.display=r.getAttribute('data-group').toLowerCase().indexOf(q)<0?'none':'';});}
  window.__rollgateFilter=filter;
  document.addEventListener('input',function(e){if(e.target&&e.target.id==='filter')filter();});
})();
`;

/**
 * Live updates: one EventSource (it reconnects on its own); the server sends the view's body
 * whenever the record changes. `window.__rollgate` keeps the last event-to-screen time.
 */
export const CLIENT_JS =
  FILTER_JS +
  `
(function(){
  var main=document.getElementById('main');var live=document.getElementById('live');
  var state=window.__rollgate={renders:0,latencies:[]};var filter=window.__rollgateFilter;
  var es=new EventSource('/events?view='+encodeURIComponent(main.getAttribute('data-view'))+'&generation='+main.getAttribute('data-generation'));
  es.addEventListener('open',function(){live.textContent='live';});
  es.addEventListener('error',function(){live.textContent='reconnecting…';});
  es.addEventListener('render',function(ev){
    var d=JSON.parse(ev.data);var f=document.getElementById('filter');var q=f?f.value:'';
    main.innerHTML=d.html;var f2=document.getElementById('filter');if(f2){f2.value=q;filter();}
    var now=Date.now();state.renders++;
    if(d.lastEventAt){state.latencies.push(now-Date.parse(d.lastEventAt));state.lastEventAt=d.lastEventAt;}
    live.textContent='live · updated '+new Date(now).toISOString().slice(11,19);
  });
})();
`;

/** A static export's files beside its pages (paths from the export's root). */
export const STATIC_ASSETS = {
  style: 'assets/rollgate.css',
  script: 'assets/rollgate.js',
} as const;
