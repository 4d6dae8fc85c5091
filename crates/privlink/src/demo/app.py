#!/usr/bin/env python3
# privlink demo application: an HTTP server on port 8080 behind an NLB whose target group has
# proxy_protocol_v2.enabled. Each connection starts with a PROXY protocol v2 header; the server
# answers each request with who it is and what the header told it: the client's source
# address:port, the destination (the endpoint's address:port) and the VPC endpoint id from
# AWS's TLV (type 0xEA, subtype 0x01).
import socket
import socketserver
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def read_proxy_v2(rfile):
    """The header's fields, or None when the connection carries none (or a LOCAL one: the
    load balancer's health checks)."""
    head = rfile.read(16)
    if len(head) < 16 or head[:12] != SIGNATURE:
        return None
    command, family = head[12] & 0x0F, head[13]
    body = rfile.read(struct.unpack("!H", head[14:16])[0])
    if command != 0x01:
        return None
    if family == 0x11:  # TCP over IPv4
        src, dst, sport, dport = struct.unpack("!4s4sHH", body[:12])
        fields = {"source": f"{socket.inet_ntop(socket.AF_INET, src)}:{sport}",
                  "destination": f"{socket.inet_ntop(socket.AF_INET, dst)}:{dport}"}
        tlvs = body[12:]
    elif family == 0x21:  # TCP over IPv6
        src, dst, sport, dport = struct.unpack("!16s16sHH", body[:36])
        fields = {"source": f"[{socket.inet_ntop(socket.AF_INET6, src)}]:{sport}",
                  "destination": f"[{socket.inet_ntop(socket.AF_INET6, dst)}]:{dport}"}
        tlvs = body[36:]
    else:
        return None
    while len(tlvs) >= 3:
        kind, length = tlvs[0], struct.unpack("!H", tlvs[1:3])[0]
        value, tlvs = tlvs[3:3 + length], tlvs[3 + length:]
        if kind == 0xEA and value[:1] == b"\x01":
            fields["vpce"] = value[1:].decode(errors="replace")
    return fields


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        proxy = read_proxy_v2(self.rfile)
        if proxy is None:
            return
        # The HTTP request: its line and headers, up to the empty line.
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        address, port = self.request.getsockname()[:2]
        body = (f"host={socket.gethostname()} address={address}:{port} "
                f"source={proxy['source']} destination={proxy['destination']} "
                f"vpce={proxy.get('vpce', '-')}\n").encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(("0.0.0.0", 8080), Handler).serve_forever()
