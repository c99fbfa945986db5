/**
 * The admin console's style sheet (API.md §18), served by the service at /admin/console.css under
 * the page's CSP nonce: system fonts, no images, nothing loaded from elsewhere. Long values (ids,
 * user agents, addresses) wrap anywhere, so nothing scrolls sideways on a 390 px phone.
 *
 * @example
 * c.body(CONSOLE_STYLE, 200, { "content-type": "text/css; charset=utf-8" });
 */
export const CONSOLE_STYLE = String.raw`
*,*::before,*::after{box-sizing:border-box}
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;--accent:#2563eb;--accent-ink:#fff;--danger:#b91c1c;--ok:#15803d;--warn:#b45309;--radius:10px}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",sans-serif;color:var(--ink);background:var(--bg);overflow-wrap:anywhere}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
[hidden]{display:none!important}
.bar{display:flex;align-items:center;gap:1rem;flex-wrap:wrap;padding:.75rem 1.25rem;background:#0f172a;color:#e2e8f0}
.brand{font-weight:650;letter-spacing:.01em;margin-right:auto}
.brand .tag{margin-left:.4rem;padding:.1rem .45rem;border-radius:999px;background:#1e293b;color:#93c5fd;font-size:.75rem;font-weight:600;vertical-align:middle}
.bar nav{display:flex;align-items:center;gap:.25rem;flex-wrap:wrap}
.bar nav a{color:#cbd5e1;padding:.35rem .65rem;border-radius:6px}
.bar nav a:hover{background:#1e293b;text-decoration:none;color:#fff}
.bar nav a[aria-current=page]{background:#1e293b;color:#fff}
.bar nav button{margin-left:.5rem}
main{max-width:64rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 .25rem}
h2{font-size:1rem;margin:0;display:flex;align-items:baseline;gap:.5rem}
h2 .count{color:var(--muted);font-weight:500;font-size:.875rem}
.muted{color:var(--muted)}
.small{font-size:.8125rem}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.8125rem}
label{display:block;font-weight:600;margin:0 0 .35rem}
input,select{font:inherit;color:inherit;padding:.55rem .7rem;border:1px solid #cbd5e1;border-radius:8px;background:#fff;min-width:0}
input:focus,select:focus{border-color:var(--accent)}
input:focus-visible,select:focus-visible{outline:3px solid #bfdbfe;outline-offset:0}
button{font:inherit;font-weight:600;padding:.5rem .9rem;border-radius:8px;border:1px solid transparent;background:var(--accent);color:var(--accent-ink);cursor:pointer;white-space:nowrap}
button:hover{filter:brightness(.95)}
button:disabled{opacity:.5;cursor:not-allowed}
button.secondary{background:#fff;color:var(--ink);border-color:#cbd5e1}
button.danger{background:var(--danger)}
button.ghost{background:transparent;color:#cbd5e1;border-color:#334155;padding:.35rem .7rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:1rem 1.1rem;margin:0 0 1rem}
.card>h2{margin-bottom:.75rem}
.sign-in{max-width:26rem;margin:4rem auto}
.sign-in input{width:100%}
.sign-in button{width:100%;margin-top:1rem;padding:.65rem}
.sign-in p{margin:.25rem 0 1.25rem}
.search{display:flex;gap:.5rem;margin:1rem 0}
.search input{flex:1}
.head{display:flex;align-items:flex-start;justify-content:space-between;gap:1rem;flex-wrap:wrap;margin:0 0 1.25rem}
.head p{margin:.15rem 0 0}
.back{display:inline-block;margin:0 0 .75rem;font-size:.875rem}
.actions{display:flex;gap:.5rem;flex-wrap:wrap}
.list{list-style:none;margin:0;padding:0}
.list>li{border-top:1px solid var(--line);padding:.7rem 0}
.list>li:first-child{border-top:0;padding-top:0}
.list>li:last-child{padding-bottom:0}
.users{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);overflow:hidden}
.users>li{padding:0;border-top:1px solid var(--line)}
.users>li:first-child{border-top:0}
.users a{display:grid;grid-template-columns:minmax(0,1fr) 12rem 12.5rem;gap:.25rem 1rem;align-items:center;padding:.8rem 1.1rem;color:inherit}
.users a:hover{background:#f1f5f9;text-decoration:none}
.users .who{font-weight:600}
.users .meta{color:var(--muted);font-size:.8125rem}
.users .when{text-align:right}
.line{display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem .6rem}
.line strong{font-weight:600}
.meta-line{color:var(--muted);font-size:.8125rem;margin-top:.15rem}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:999px;font-size:.75rem;font-weight:600;background:#f1f5f9;color:#334155;white-space:nowrap}
.badge.ok{background:#dcfce7;color:var(--ok)}
.badge.bad{background:#fee2e2;color:var(--danger)}
.badge.warn{background:#fef3c7;color:var(--warn)}
.badge.info{background:#dbeafe;color:#1d4ed8}
.badges{display:flex;gap:.35rem;flex-wrap:wrap}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.4rem 1.25rem;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0}
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:0 1rem}
.empty{color:var(--muted);margin:0}
.more{margin-top:1rem}
.toolbar{display:flex;align-items:flex-end;gap:.75rem;flex-wrap:wrap;margin:1rem 0}
.deliveries{list-style:none;margin:.5rem 0 0;padding:0;display:grid;gap:.35rem}
.deliveries li{display:flex;flex-wrap:wrap;gap:.25rem .6rem;align-items:baseline;font-size:.875rem}
.event-actions{margin-top:.6rem}
#status:empty{display:none}
#status{margin:0 0 1rem;padding:.7rem .9rem;border-radius:8px;background:#eff6ff;color:#1e3a8a;border:1px solid #bfdbfe}
#status[data-kind=error]{background:#fef2f2;color:#991b1b;border-color:#fecaca}
#status[data-kind=success]{background:#f0fdf4;color:#166534;border-color:#bbf7d0}
dialog{border:0;border-radius:12px;padding:1.25rem;max-width:min(28rem,calc(100vw - 2rem));box-shadow:0 20px 50px rgba(15,23,42,.3)}
dialog::backdrop{background:rgba(15,23,42,.45)}
dialog h2{font-size:1.1rem;margin:0 0 .5rem}
dialog p{margin:0 0 1.25rem}
dialog .actions{justify-content:flex-end}
@media (max-width:40rem){
  main{padding:1rem .9rem 2rem}
  .bar{padding:.6rem .9rem}
  .grid{grid-template-columns:minmax(0,1fr)}
  .users a{grid-template-columns:minmax(0,1fr) auto;padding:.75rem .9rem}
  .users .badges{justify-content:flex-end}
  .users .when{grid-column:1/-1;text-align:left}
  h1{font-size:1.25rem}
  dl.facts{grid-template-columns:minmax(0,1fr)}
  dl.facts dt{margin-top:.35rem}
  .head .actions{width:100%}
  .sign-in{margin:2rem auto}
}
`;
