/** Logging from a plugin: to the host's log inside a component, to stderr under Node. */

let sink = (level, message) => console.error(`[${level}] ${message}`);

/** Routes `log` to `fn(level, message)`; the guest bridge points it at the host. */
export function setLogSink(fn) {
  sink = fn;
}

/** Writes `message` at `level` (trace, debug, info, warn, error); the host rate-limits and cuts it. */
export function log(level, message) {
  sink(level, String(message));
}
