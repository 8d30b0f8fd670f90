"""wsclient.py: a minimal WebSocket client (RFC 6455) for black-box tests of XMPP over WebSocket
(RFC 7395): the opening handshake with its response headers, masked text/binary/close frames, and
receiving whole messages. Written here because Debian's Python has no WebSocket client in the stdlib."""
import base64
import hashlib
import os
import socket
import struct

from harness import SLOW

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    def __init__(self, status, headers, body):
        super().__init__("HTTP %d" % status)
        self.status, self.headers, self.body = status, headers, body


class WSClient:
    def __init__(self, port, path="/xmpp-websocket", protocols="xmpp", extra_headers="", timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, key))
        if protocols:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protocols
        req += extra_headers + "\r\n"
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        if status != 101:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                self.buf += self.sock.recv(4096)
            raise HandshakeRefused(status, self.headers, self.buf[:n].decode("utf-8", "replace"))
        expect = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert self.headers["sec-websocket-accept"] == expect
        self.closed = False

    def send_frame(self, opcode, payload, fin=True, mask=True):
        if isinstance(payload, str):
            payload = payload.encode()
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            head += bytes([mbit | n])
        elif n < 65536:
            head += bytes([mbit | 126]) + struct.pack(">H", n)
        else:
            head += bytes([mbit | 127]) + struct.pack(">Q", n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def send(self, text):
        self.send_frame(0x1, text)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                self.closed = True
                raise EOFError()
            self.buf += chunk

    def recv_frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack(">H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack(">Q", self.buf[2:10])[0]
            off = 10
        assert not (b1 & 0x80), "server frames must not be masked"
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def recv(self):
        """Next text message as str; ('close', code) for a close frame; answers pings."""
        while True:
            op, payload = self.recv_frame()
            if op == 0x1:
                return payload.decode()
            if op == 0x9:
                self.send_frame(0xA, payload)
            elif op == 0x8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                return ("close", code)

    def messages_until_close(self):
        out = []
        try:
            while True:
                m = self.recv()
                out.append(m)
                if isinstance(m, tuple):
                    break
        except (EOFError, ConnectionError, OSError):
            pass
        return out
