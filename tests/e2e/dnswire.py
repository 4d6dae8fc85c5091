"""DNS on the wire for the DNS tests (dnslib): a client that reports what it got back, and an
authoritative test server on loopback whose records change during a test.

The client also runs as a script inside instances (`privlink exec <id> -- python3 dnswire.py
NAME [TYPE] [udp|tcp] [TIMEOUT] [SERVER[:PORT]]`; the server defaults to the first
`nameserver` of /etc/resolv.conf) and prints its result as one JSON line.
"""

import collections
import json
import socket
import struct
import sys
import threading
import time

from dnslib import QTYPE, RCODE, RR, SOA, TXT, A, DNSError, DNSRecord


def resolv_conf_nameserver(path="/etc/resolv.conf"):
    with open(path) as f:
        for line in f:
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver":
                return words[1]
    raise RuntimeError(f"no nameserver in {path}")


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed mid-message")
        data += chunk
    return data


def exchange(host, port, packet, proto="udp", timeout=2.0):
    """Sends one DNS message, returns the raw answer (raises socket errors and timeouts)."""
    if proto == "tcp":
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack("!H", len(packet)) + packet)
            (length,) = struct.unpack("!H", recv_exact(s, 2))
            return recv_exact(s, length)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.send(packet)
        return s.recv(65535)


def query(host, port, name, qtype="A", proto="udp", timeout=2.0):
    """Asks `host:port` for `name`/`qtype`. Returns a dict: `rcode` (e.g. "NOERROR"),
    `answers` (the rdata strings of the records of `qtype`), `ttls`, `authority` (record type
    names), `aa`, `elapsed` (seconds); or `error` (e.g. "timeout") and `elapsed`."""
    q = DNSRecord.question(name, qtype)
    start = time.monotonic()
    try:
        raw = exchange(host, port, q.pack(), proto, timeout)
    except (socket.timeout, TimeoutError):
        return {"error": "timeout", "elapsed": time.monotonic() - start}
    except OSError as e:
        return {"error": type(e).__name__, "detail": str(e), "elapsed": time.monotonic() - start}
    elapsed = time.monotonic() - start
    try:
        r = DNSRecord.parse(raw)
    except DNSError as e:
        return {"error": "unparsable", "detail": str(e), "elapsed": elapsed}
    want = getattr(QTYPE, qtype)
    return {
        "rcode": RCODE.get(r.header.rcode),
        "id_ok": r.header.id == q.header.id,
        "aa": bool(r.header.aa),
        "tc": bool(r.header.tc),
        "answers": sorted(str(rr.rdata).strip('"') for rr in r.rr if rr.rtype == want),
        "ttls": [rr.ttl for rr in r.rr if rr.rtype == want],
        "authority": [QTYPE.get(rr.rtype) for rr in r.auth],
        "elapsed": elapsed,
    }


class Upstream:
    """An authoritative DNS server on 127.0.0.1 (UDP and TCP, one free port) answering from
    `records`, which tests change as they go; counts the queries it receives. Names with no
    record (nor records below them) get NXDOMAIN, names with records of other types NODATA;
    both with an SOA whose negative TTL is `negative_ttl` (0 unless a test says: resolvers do
    not keep the answer)."""

    def __init__(self):
        self.records = {}  # (name, type) -> [(rdata, ttl)]
        self.queries = collections.Counter()  # (name, type) -> count
        self.tcp_queries = collections.Counter()  # the same, of those that came over TCP
        self.negative_ttl = 0  # how long NXDOMAIN/NODATA answers may be kept
        self.silent_names = set()  # names whose queries are dropped (never answered)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.udp, self.tcp = self._bind()
        self.port = self.udp.getsockname()[1]
        self.threads = [threading.Thread(target=self._serve_udp, daemon=True),
                        threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self.threads:
            t.start()

    @staticmethod
    def _bind():
        # UDP's free port may be taken for TCP: try a few.
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            udp.settimeout(0.2)
            tcp.settimeout(0.2)
            return udp, tcp
        raise RuntimeError("no free port for both UDP and TCP")

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def set(self, name, qtype, values, ttl=300):
        with self.lock:
            self.records[(name.lower().rstrip("."), qtype)] = [(v, ttl) for v in values]

    def remove(self, name, qtype):
        with self.lock:
            self.records.pop((name.lower().rstrip("."), qtype), None)

    def count(self, name, qtype="A"):
        with self.lock:
            return self.queries[(name.lower().rstrip("."), qtype)]

    def count_tcp(self, name, qtype="A"):
        with self.lock:
            return self.tcp_queries[(name.lower().rstrip("."), qtype)]

    def answer(self, packet, udp=True):
        try:
            req = DNSRecord.parse(packet)
        except DNSError:
            return None
        if not req.questions:
            return None
        qname = str(req.q.qname).rstrip(".").lower()
        qtype = QTYPE.get(req.q.qtype)
        with self.lock:
            self.queries[(qname, qtype)] += 1
            if not udp:
                self.tcp_queries[(qname, qtype)] += 1
            if qname in self.silent_names:
                return None
            found = list(self.records.get((qname, qtype), []))
            exists = any(n == qname or n.endswith("." + qname) for n, _ in self.records)
        reply = req.reply()
        make = {"A": A, "TXT": TXT}
        for value, ttl in found:
            reply.add_answer(RR(req.q.qname, req.q.qtype, rdata=make[qtype](value), ttl=ttl))
        if not found:
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
            ttl = self.negative_ttl
            reply.add_auth(RR("test.", QTYPE.SOA, ttl=ttl, rdata=SOA(
                "ns.test.", "admin.test.", (1, 60, 60, 60, ttl))))
        out = reply.pack()
        # Over UDP, what does not fit the client's size (512, or its EDNS size) is truncated:
        # the client is to ask again over TCP.
        limit = max([512] + [rr.rclass for rr in req.ar if rr.rtype == QTYPE.OPT])
        if udp and len(out) > limit:
            reply.rr = []
            reply.header.tc = 1
            out = reply.pack()
        return out

    def _serve_udp(self):
        while not self.stopping.is_set():
            try:
                packet, peer = self.udp.recvfrom(65535)
                out = self.answer(packet)
                if out is not None:
                    self.udp.sendto(out, peer)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                if self.stopping.is_set():
                    return

    def _serve_tcp(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                continue
            threading.Thread(target=self._serve_conn, args=(conn,), daemon=True).start()

    def _serve_conn(self, conn):
        with conn:
            conn.settimeout(5)
            try:
                while True:
                    (length,) = struct.unpack("!H", recv_exact(conn, 2))
                    out = self.answer(recv_exact(conn, length), udp=False)
                    if out is not None:
                        conn.sendall(struct.pack("!H", len(out)) + out)
            except (OSError, ConnectionError, struct.error):
                return

    def close(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=5)
        self.udp.close()
        self.tcp.close()


def main(argv):
    name = argv[0]
    qtype = argv[1] if len(argv) > 1 else "A"
    proto = argv[2] if len(argv) > 2 else "udp"
    timeout = float(argv[3]) if len(argv) > 3 else 2.0
    server = argv[4] if len(argv) > 4 else resolv_conf_nameserver()
    host, _, port = server.partition(":")
    result = query(host, int(port or 53), name, qtype, proto, timeout)
    result["server"] = f"{host}:{port or 53}"
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
