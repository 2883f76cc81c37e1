// The lab's service: a tiny web page behind the floating IP, run by a
// Heartbeat-style resource script (resource.d/labweb) the lab writes into
// each node's configuration directory, plus the client-side probes (ICMP and
// HTTP) that time a failover from the client's point of view.
//
// The script serves DOCROOT (whose index.html names the node) on VIP:PORT with
// `busybox httpd` when busybox is there, else `python3 -m http.server`; the
// server's pid lives in $HA_RSCTMP/labweb/pid (per node: the daemon points
// HA_RSCTMP into its own state directory). Its command line carries the
// docroot, which is unique to one lab run: cleanup only ever kills a pid
// from our pid files whose command line still names our docroot.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Cluster, Proc } from "./netns.ts";

export const web_port = 8080;
export const web_script = "labweb";
/** the PATH resource scripts run with (src/agents/runner.ts agent_path) */
const agent_path = "/usr/sbin:/usr/bin:/sbin:/bin";

/** Which server the script will use, judged the way the script will (its PATH); null when neither exists. */
export function webServerKind(): "busybox" | "python3" | null {
  if (Bun.which("busybox", { PATH: agent_path })) return "busybox";
  if (Bun.which("python3", { PATH: agent_path })) return "python3";
  return null;
}

function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export interface WebSite {
  node: string;
  /** DIR/resource.d/labweb */
  script: string;
  docroot: string;
  /** where the script keeps the server's pid (HA_RSCTMP of that node) */
  pid_file: string;
}

/**
 * Write the node's docroot and its resource.d/labweb script. `rsctmp` is the
 * HA_RSCTMP the daemon will give the script (used here only for cleanup).
 */
export function writeWebSite(o: { node: string; ha_dir: string; base: string; rsctmp: string; vip: string }): WebSite {
  const docroot = join(o.base, "www");
  mkdirSync(docroot, { recursive: true, mode: 0o755 });
  writeFileSync(join(docroot, "index.html"), `served by ${o.node}\n`);
  const rd = join(o.ha_dir, "resource.d");
  mkdirSync(rd, { recursive: true, mode: 0o755 });
  const script = join(rd, web_script);
  const text = `#!/bin/sh
# labweb: written by tandem's lab (src/lab/http_service.ts) for ${o.node}.
# Heartbeat resource script: the action is the LAST argument; status prints
# "running" or "stopped". Serves ${o.vip}:${web_port} from the docroot below.
VIP=${shq(o.vip)}
PORT=${web_port}
DOCROOT=${shq(docroot)}
STATE="\${HA_RSCTMP:?HA_RSCTMP not set}/${web_script}"
PIDFILE="$STATE/pid"
for a in "$@"; do action=$a; done

running() {
  [ -s "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null || return 1
  # still our server (not a recycled pid): its command line names our docroot
  tr '\\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DOCROOT"
}

case "$action" in
start)
  running && exit 0
  mkdir -p "$STATE"
  # setsid: the server leads its own process group, so stop (and the lab's
  # reaper) kill it with every child it forked (busybox forks per request)
  if command -v busybox >/dev/null 2>&1; then
    setsid busybox httpd -f -p "$VIP:$PORT" -h "$DOCROOT" </dev/null >/dev/null 2>&1 &
  elif command -v python3 >/dev/null 2>&1; then
    setsid python3 -m http.server --bind "$VIP" --directory "$DOCROOT" "$PORT" </dev/null >/dev/null 2>&1 &
  else
    echo "labweb: neither busybox nor python3 found" >&2
    exit 1
  fi
  echo $! >"$PIDFILE"
  # up when it listens (bounded, 15 s: python3 starts slowly on a loaded
  # machine): /proc/net/tcp lists the port in hex, state 0A = LISTEN
  hexport=$(printf ':%04X' "$PORT")
  i=0
  while [ $i -lt 300 ]; do
    # kill -0, not running(): until the child has exec'd busybox its cmdline is
    # still this script's, and running() would call a starting server gone
    kill -0 "$!" 2>/dev/null || { echo "labweb: server exited at start" >&2; exit 1; }
    grep -q "$hexport 00000000:0000 0A" /proc/net/tcp 2>/dev/null && exit 0
    sleep 0.05
    i=$((i + 1))
  done
  echo "labweb: server not listening on $VIP:$PORT after 15 s" >&2
  exit 1
  ;;
stop)
  if running; then
    kill -- "-$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
    kill -9 -- "-$pid" 2>/dev/null
  fi
  rm -f "$PIDFILE"
  exit 0
  ;;
status)
  if running; then echo running; else echo stopped; fi
  exit 0
  ;;
*)
  echo "usage: $0 start|stop|status" >&2
  exit 1
  ;;
esac
`;
  writeFileSync(script, text, { mode: 0o755 });
  chmodSync(script, 0o755);
  return { node: o.node, script, docroot, pid_file: join(o.rsctmp, web_script, "pid") };
}

/** The pid in a site's pid file when that process is alive and still serves our docroot. */
export function ourServerPid(site: WebSite): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(site.pid_file, "utf8").trim());
  } catch {
    return null;
  }
  return serverAlive(pid, site.docroot) ? pid : null;
}

export function serverAlive(pid: number, docroot: string): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(docroot);
  } catch {
    return false;
  }
}

/** SIGKILL a server started by our script (pid verified against its docroot), with its process group. */
export function killServer(pid: number, docroot: string): boolean {
  if (!serverAlive(pid, docroot)) return false;
  try {
    process.kill(-pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}

export interface Sample {
  /** wall-clock epoch ms */
  t: number;
  ok: boolean;
  text: string;
}

/** `ping -i 0.01 -D -O` in the client namespace; replies timed by ping's own -D stamps. */
export function startPingProbe(c: Cluster, ns: string, target: string): { proc: Proc; samples: Sample[] } {
  const samples: Sample[] = [];
  const proc = c.spawn(ns, ["ping", "-n", "-i", "0.01", "-D", "-O", "-W", "1", target], {
    on_line: (line) => {
      const m = /^\[(\d+\.\d+)\]\s+(.*)$/.exec(line);
      if (!m) return;
      const text = m[2]!;
      samples.push({ t: Number(m[1]) * 1000, ok: /bytes from/.test(text), text });
    },
  });
  return { proc, samples };
}

const py_fetch_loop = `
import sys, time, urllib.request
url = sys.argv[1]
op = urllib.request.build_opener(urllib.request.ProxyHandler({}))
while True:
    try:
        body = op.open(url, timeout=0.25).read().decode(errors="replace").strip()
        print("OK " + body, flush=True)
    except Exception as e:
        print("ERR " + type(e).__name__, flush=True)
    time.sleep(0.02)
`;

/** The fetch tool the client namespace can use, or null. */
export function httpClientKind(): "python3" | "curl" | "wget" | null {
  if (Bun.which("python3", { PATH: agent_path })) return "python3";
  if (Bun.which("curl")) return "curl";
  if (Bun.which("wget")) return "wget";
  return null;
}

/** Fetch `url` from the client namespace every ~20 ms (timeout 250 ms each), timing each answer. */
export function startHttpProbe(c: Cluster, ns: string, url: string): { proc: Proc; samples: Sample[] } | null {
  const kind = httpClientKind();
  if (!kind) return null;
  const py = Bun.which("python3", { PATH: agent_path });
  const sh_loop = (fetch: string) =>
    `while :; do if out=$(${fetch} 2>/dev/null); then echo "OK $out"; else echo "ERR $?"; fi; sleep 0.02; done`;
  const argv =
    kind === "python3"
      ? [py!, "-u", "-c", py_fetch_loop, url]
      : kind === "curl"
        ? ["sh", "-c", sh_loop(`curl -sf --noproxy '*' -m 0.25 ${shq(url)}`)]
        : ["sh", "-c", sh_loop(`wget -q -T 1 -O - ${shq(url)}`)];
  const samples: Sample[] = [];
  const proc = c.spawn(ns, argv, {
    on_line: (line) => {
      const ok = line.startsWith("OK ");
      samples.push({ t: Date.now(), ok, text: line.slice(ok ? 3 : 4) });
    },
  });
  return { proc, samples };
}
