#!/usr/bin/env python3
# A userspace link impairment relay (what `tc qdisc ... netem` would do; this
# kernel has no sch_netem). Runs in a lab cluster's bridge namespace between a
# node's veth end (detached from its bridge, --node) and a new veth port on
# the bridge (--bridge), and forwards Ethernet frames both ways through
# AF_PACKET sockets, applying per direction ("out": from the node, "in": to
# the node):
#   loss_pct      drop this share of frames
#   delay_ms      hold every frame this long ...
#   jitter_ms     ... plus or minus up to this (uniform): frames may overtake
#   dup_pct       send this share of frames twice (the copy right after)
#   reorder_pct   hold this share back reorder_ms more, so later ones overtake
#   reorder_ms
# Every queue is bounded (queue_max frames per direction; a frame beyond it is
# dropped and counted as overflow) and every delay is capped (delay_max_ms).
#
# Control: a Unix stream socket (--ctl), one JSON object per line, one JSON
# reply per line:
#   {"cmd":"set","out":{...},"in":{...}}  merge parameters (either side)
#   {"cmd":"clear"}                       every parameter back to 0
#   {"cmd":"stats"}                       counters and parameters per direction
# It prints "ready" once the sockets are bound. It exits on SIGTERM/SIGINT, on
# stdin EOF is not used (the lab spawns it with stdin closed); the caller
# restores the topology (src/lab side: test/cts/impair.ts).
#
# Python rather than Bun: Bun has no AF_PACKET sockets, and the native addon
# is the daemon's; python3's socket module has them, and the relay's
# per-frame work is a heap push and a send.
import argparse
import heapq
import json
import math
import os
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_CSUMNOTREADY = 8
queue_max = 1000
delay_max_ms = 10_000
frame_max = 65536
ctl_line_max = 4096
ctl_clients_max = 8
params = ("loss_pct", "delay_ms", "jitter_ms", "dup_pct", "reorder_pct", "reorder_ms")


class Direction:
    def __init__(self, name, rx, tx):
        self.name = name
        self.rx = rx
        self.tx = tx
        self.p = {k: 0.0 for k in params}
        self.q = []  # (due, seq, frame)
        self.c = {k: 0 for k in ("rx", "tx", "lost", "duplicated", "reordered", "delayed", "overflow", "send_errors", "csum_fixed")}

    def set(self, d):
        for k, v in d.items():
            if k not in params:
                raise ValueError(f"unknown parameter {k!r} (known: {', '.join(params)})")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{k} must be a number >= 0, not {v!r}")
            if k.endswith("_pct") and v > 100:
                raise ValueError(f"{k} must be 0..100, not {v}")
            if k.endswith("_ms") and v > delay_max_ms:
                raise ValueError(f"{k} must be at most {delay_max_ms}, not {v}")
        self.p.update({k: float(v) for k, v in d.items()})


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def fix_l4_csum(frame):
    # A frame from a local stack may carry CHECKSUM_PARTIAL (offloaded, not
    # yet computed); sent on again from userspace it would be dropped by the
    # receiver. Complete it for IPv4 UDP/TCP (the only traffic that offloads).
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    ihl = (frame[14] & 0x0F) * 4
    proto = frame[23]
    total = int.from_bytes(frame[16:18], "big")
    l4 = 14 + ihl
    end = 14 + total
    if end > len(frame) or proto not in (6, 17):
        return frame
    off = 6 if proto == 17 else 16
    if l4 + off + 2 > end:
        return frame
    b = bytearray(frame)
    b[l4 + off : l4 + off + 2] = b"\0\0"
    pseudo = bytes(frame[26:34]) + bytes([0, proto]) + (end - l4).to_bytes(2, "big")
    c = csum16(pseudo + bytes(b[l4:end]))
    if proto == 17 and c == 0:
        c = 0xFFFF
    b[l4 + off : l4 + off + 2] = c.to_bytes(2, "big")
    return bytes(b)


def open_packet(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((ifname, ETH_P_ALL))
    s.setblocking(False)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True, help="the node's veth end (detached from the bridge)")
    ap.add_argument("--bridge", required=True, help="the relay's port on the bridge")
    ap.add_argument("--ctl", required=True, help="Unix socket path for control")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    sn = open_packet(a.node)
    sb = open_packet(a.bridge)
    dirs = {"out": Direction("out", sn, sb), "in": Direction("in", sb, sn)}
    by_rx = {sn.fileno(): dirs["out"], sb.fileno(): dirs["in"]}
    try:
        os.unlink(a.ctl)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(a.ctl)
    os.chmod(a.ctl, 0o600)
    ls.listen(4)
    ls.setblocking(False)
    clients = {}  # fd -> (sock, buf)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    seq = 0
    print("ready", flush=True)

    def handle(line):
        req = json.loads(line)
        if not isinstance(req, dict):
            raise ValueError("request must be a JSON object")
        cmd = req.get("cmd")
        if cmd == "set":
            for k in ("out", "in"):
                if k in req:
                    if not isinstance(req[k], dict):
                        raise ValueError(f"{k} must be an object")
                    dirs[k].set(req[k])
            return {"ok": True}
        if cmd == "clear":
            for d in dirs.values():
                d.set({k: 0 for k in params})
            return {"ok": True}
        if cmd == "stats":
            return {"ok": True, **{k: {"params": d.p, "counters": d.c, "queued": len(d.q)} for k, d in dirs.items()}}
        raise ValueError(f"unknown cmd {cmd!r} (set, clear, stats)")

    while not stop:
        now = time.monotonic()
        # send what is due
        for d in dirs.values():
            while d.q and d.q[0][0] <= now:
                _, _, f = heapq.heappop(d.q)
                try:
                    d.tx.send(f)
                    d.c["tx"] += 1
                except OSError:
                    d.c["send_errors"] += 1
        due = min((d.q[0][0] for d in dirs.values() if d.q), default=now + 0.1)
        timeout = max(0.0, min(0.1, due - now))
        rl = [sn, sb, ls, *(c[0] for c in clients.values())]
        try:
            ready, _, _ = select.select(rl, [], [], timeout)
        except InterruptedError:
            continue
        for s in ready:
            fd = s.fileno()
            if fd in by_rx:
                d = by_rx[fd]
                for _ in range(64):  # bounded batch per wake-up
                    try:
                        f, anc, _flags, addr = s.recvmsg(frame_max, socket.CMSG_SPACE(32))
                    except BlockingIOError:
                        break
                    if addr[2] == PACKET_OUTGOING:
                        continue  # our own sends
                    for lvl, typ, data in anc:
                        if lvl == SOL_PACKET and typ == PACKET_AUXDATA and len(data) >= 4 and int.from_bytes(data[0:4], "little") & TP_STATUS_CSUMNOTREADY:
                            f = fix_l4_csum(f)
                            d.c["csum_fixed"] += 1
                    d.c["rx"] += 1
                    p = d.p
                    if p["loss_pct"] and rng.random() * 100 < p["loss_pct"]:
                        d.c["lost"] += 1
                        continue
                    t = time.monotonic()
                    delay = p["delay_ms"]
                    if p["jitter_ms"]:
                        delay += rng.uniform(-p["jitter_ms"], p["jitter_ms"])
                    if p["reorder_pct"] and rng.random() * 100 < p["reorder_pct"]:
                        delay += p["reorder_ms"] or 20
                        d.c["reordered"] += 1
                    delay = max(0.0, min(delay, delay_max_ms))
                    if delay > 0:
                        d.c["delayed"] += 1
                    copies = 2 if p["dup_pct"] and rng.random() * 100 < p["dup_pct"] else 1
                    if copies == 2:
                        d.c["duplicated"] += 1
                    for _c in range(copies):
                        if len(d.q) >= queue_max:
                            d.c["overflow"] += 1
                            continue
                        seq += 1
                        heapq.heappush(d.q, (t + delay / 1000, seq, f))
            elif s is ls:
                try:
                    cs, _ = ls.accept()
                except BlockingIOError:
                    continue
                if len(clients) >= ctl_clients_max:
                    cs.close()
                    continue
                cs.setblocking(False)
                clients[cs.fileno()] = [cs, b""]
            else:
                c = clients[fd]
                try:
                    chunk = c[0].recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    c[0].close()
                    del clients[fd]
                    continue
                c[1] += chunk
                while b"\n" in c[1]:
                    line, c[1] = c[1].split(b"\n", 1)
                    try:
                        rep = handle(line)
                    except (ValueError, json.JSONDecodeError) as e:
                        rep = {"ok": False, "error": str(e)}
                    try:
                        c[0].setblocking(True)
                        c[0].settimeout(2)
                        c[0].sendall((json.dumps(rep) + "\n").encode())
                        c[0].setblocking(False)
                    except OSError:
                        pass
                if len(c[1]) > ctl_line_max:
                    c[0].close()
                    del clients[fd]
    try:
        os.unlink(a.ctl)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
