"""What the browser tests and `bench --only browser` inject into every page: `RUN_COUNTER` counts the
script runs the Streamlit server reports as finished over the app's WebSocket (leaving out runs cut
short by a rerun) in `window.__commlogRuns`, the messages the page sent in `window.__commlogSent` and
those it received in `window.__commlogGot` (each element a run draws is one), and
what each rerun it asked for covers in `window.__commlogReruns` ('app': the whole page; 'fragment':
one part of it, an st.fragment such as the log's grid), and when (`performance.now()`) the page
first asked for a rerun since `window.__commlogRerunAt` was set to null and last heard that a run
finished (`window.__commlogFinishedAt`): `bench --only browser` splits a click's time with them.
Waiting on it is waiting on Streamlit's own script state, never on a clock."""

RUN_COUNTER = """
(() => {
  // Count the script runs Streamlit reports as finished (ForwardMsg.script_finished, field 6),
  // except those cut short for a rerun (status 2: st.rerun, a newer widget change).
  window.__commlogRuns = 0;
  window.__commlogLoad = Math.random().toString(36).slice(2);  // a new document starts a new count
  const varint = (b, i) => { let v = 0, s = 0, x; do { x = b[i++]; v += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return [v, i]; };
  // The first top-level field `want` of protobuf message b: its varint (wire type 0) or its bytes
  // (wire type 2); null when b has none.
  const field = (b, want) => {
    let i = 0;
    while (i < b.length) {
      let tag; [tag, i] = varint(b, i);
      const number = Math.floor(tag / 8), wire = tag & 7;
      let value;
      if (wire === 0) [value, i] = varint(b, i);
      else if (wire === 2) { let n; [n, i] = varint(b, i); value = b.subarray(i, i + n); i += n; }
      else if (wire === 1) { i += 8; continue; } else if (wire === 5) { i += 4; continue; } else return null;
      if (number === want) return value;
    }
    return null;
  };
  const finished = (b) => { const v = field(b, 6); return typeof v === 'number' ? v : null; };
  const rerunScope = (b) => {  // BackMsg.rerun_script (field 11): does its ClientState name a fragment_id (field 5)?
    const state = field(b, 11);
    if (!(state instanceof Uint8Array)) return null;
    const fragment = field(state, 5);
    return fragment instanceof Uint8Array && fragment.length > 0 ? 'fragment' : 'app';
  };
  window.__commlogReruns = [];
  window.__commlogRerunAt = window.__commlogFinishedAt = null;
  const sent = (data) => {
    const bytes = data instanceof Uint8Array ? data : (data instanceof ArrayBuffer ? new Uint8Array(data) : null);
    const scope = bytes && rerunScope(bytes);
    if (scope) {
      window.__commlogReruns.push(scope);
      if (window.__commlogRerunAt === null) window.__commlogRerunAt = performance.now();
    }
  };
  const count = (bytes) => {
    const status = finished(bytes);
    if (status !== null && status !== 2) { window.__commlogRuns += 1; window.__commlogFinishedAt = performance.now(); }
  };
  window.__commlogSent = 0;  // messages the page sent the server (a widget's rerun request is one)
  window.__commlogGot = 0;  // messages the server sent the page (each element a run draws is one)
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    send(data) { window.__commlogSent += 1; try { sent(data); } catch (e) { /* never in the page's way */ } return super.send(data); }
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        window.__commlogGot += 1;
        if (e.data instanceof ArrayBuffer) count(new Uint8Array(e.data));
        else if (e.data instanceof Blob) e.data.arrayBuffer().then((a) => count(new Uint8Array(a)));
      });
    }
  };
})();
"""
