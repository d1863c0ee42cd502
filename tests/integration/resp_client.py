"""A tiny, dependency-free RESP2/RESP3 client for protocol-level tests.

redis-py hides protocol details (it turns error replies into exceptions,
decodes simple strings and bulk strings alike, only speaks RESP2 in 4.x).
Tests that must see the wire format exactly -- the differential tests, RESP3
tests, tests that send malformed or fragmented input -- use this client.

Reply type mapping (``RespClient.read_reply``):

    RESP   type            Python value
    ----   -------------   ------------------------------------------------
    +      simple string   SimpleString (a bytes subclass)
    -      simple error    RespError  (returned, *not* raised)
    :      integer         int
    $      bulk string     bytes, or None for the RESP2 null bulk ``$-1``
    *      array           list,  or None for the RESP2 null array ``*-1``
    _      null            None
    ,      double          float (inf / -inf / nan supported)
    #      boolean         bool
    !      blob error      RespError (with .blob = True)
    =      verbatim        VerbatimString (bytes subclass, .format = b"txt")
    (      big number      BigNumber (an int subclass)
    %      map             RespMap (a dict subclass; unhashable keys -> tuple)
    ~      set             RespSet (a list subclass, server order preserved)
    >      push            Push (a list subclass)
    |      attribute       the attribute map is stored in
                           ``RespClient.last_attributes`` and the value that
                           follows it is returned

Because several RESP types map onto the same Python base type, compare
replies with :func:`same_reply` (which also checks the exact Python type) or
compare the raw frame bytes returned by :meth:`RespClient.read_frame`.
"""

import socket


class RespProtocolError(Exception):
    """The server sent bytes that are not valid RESP (a harness-level failure)."""


class RespError(Exception):
    """An error reply (``-ERR ...`` or blob error ``!``).

    Error replies are *returned* by the reader, not raised, so that they can be
    compared like any other value.  ``message`` holds the full text without
    the leading ``-`` (e.g. ``b"ERR syntax error"``); ``prefix`` is its first
    word (``b"ERR"``, ``b"WRONGTYPE"``, ...).
    """

    def __init__(self, message, blob=False):
        super().__init__(message)
        self.message = bytes(message)
        self.blob = blob

    @property
    def prefix(self):
        return self.message.split(b" ", 1)[0]

    def __eq__(self, other):
        return (isinstance(other, RespError) and self.message == other.message
                and self.blob == other.blob)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((RespError, self.message, self.blob))

    def __repr__(self):
        return "RespError(%r%s)" % (self.message, ", blob=True" if self.blob else "")


class SimpleString(bytes):
    """A ``+...`` status reply, distinguishable from a bulk string."""

    def __repr__(self):
        return "SimpleString(%s)" % bytes.__repr__(self)


class VerbatimString(bytes):
    """A RESP3 ``=`` verbatim string; ``format`` is the 3-byte type (b"txt")."""

    def __new__(cls, value, fmt):
        obj = super().__new__(cls, value)
        obj.format = fmt
        return obj

    def __repr__(self):
        return "VerbatimString(%r, %s)" % (self.format, bytes.__repr__(self))


class BigNumber(int):
    """A RESP3 ``(`` big number."""

    def __repr__(self):
        return "BigNumber(%s)" % int.__repr__(self)


class RespMap(dict):
    """A RESP3 ``%`` map (insertion order = server order)."""


class RespSet(list):
    """A RESP3 ``~`` set (kept as a list: order as sent, elements may be unhashable)."""

    def __repr__(self):
        return "RespSet(%s)" % list.__repr__(self)


class Push(list):
    """A RESP3 ``>`` out-of-band push message."""

    def __repr__(self):
        return "Push(%s)" % list.__repr__(self)


def _hashable(value):
    """Make a value usable as a dict key (lists -> tuples, recursively)."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((_hashable(k), _hashable(v)) for k, v in value.items())
    return value


def _to_bytes(arg):
    """Encode one command argument the way redis-cli / redis-py do."""
    if isinstance(arg, (bytes, bytearray, memoryview)):
        return bytes(arg)
    if isinstance(arg, str):
        return arg.encode("utf-8")
    if isinstance(arg, bool):  # bool is an int subclass; be explicit
        return b"1" if arg else b"0"
    if isinstance(arg, (int, float)):
        return repr(arg).encode("ascii")
    raise TypeError("cannot encode command argument %r" % (arg,))


def encode_command(*args):
    """Encode a command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _to_bytes(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def same_reply(a, b):
    """Deep equality that also requires identical Python (i.e. RESP) types.

    ``SimpleString(b"OK")`` and ``b"OK"`` are equal for plain ``==`` but not
    for this function.  NaN doubles compare equal to each other.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, VerbatimString):
        return a.format == b.format and bytes(a) == bytes(b)
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        return all(k in b and same_reply(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_reply(x, y) for x, y in zip(a, b))
    return a == b


class RespClient:
    """A blocking RESP client over one TCP connection.

    Usage::

        c = RespClient("127.0.0.1", 6379)
        c.call("SET", "k", "v")           # -> SimpleString(b"OK")
        c.call("HELLO", 3)                # switch the connection to RESP3
        c.send_raw(b"*1\\r\\n$4\\r\\nPING\\r\\n")
        c.read_reply()                    # -> SimpleString(b"PONG")
        value, raw = c.read_frame()       # value plus the exact frame bytes
    """

    def __init__(self, host="127.0.0.1", port=6379, timeout=10.0, sock=None):
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(timeout)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._buf = bytearray()
        self._pos = 0
        self._capture_start = 0
        self.last_attributes = None

    # -- context manager / lifetime --------------------------------------
    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending ------------------------------------------------------------
    def send_raw(self, data):
        """Send bytes exactly as given (may be a partial or malformed frame)."""
        self.sock.sendall(data)

    def send_command(self, *args):
        self.sock.sendall(encode_command(*args))

    def call(self, *args):
        """Send one command and return its parsed reply."""
        self.send_command(*args)
        return self.read_reply()

    def call_frame(self, *args):
        """Send one command and return ``(parsed_reply, raw_frame_bytes)``."""
        self.send_command(*args)
        return self.read_frame()

    # -- low level buffered reads -----------------------------------------
    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self._buf += chunk

    def _readline(self):
        while True:
            idx = self._buf.find(b"\r\n", self._pos)
            if idx >= 0:
                line = bytes(self._buf[self._pos:idx])
                self._pos = idx + 2
                return line
            self._fill()

    def _readexact(self, n):
        while len(self._buf) - self._pos < n:
            self._fill()
        data = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        return data

    def _read_crlf_terminated(self, n):
        data = self._readexact(n + 2)
        if data[-2:] != b"\r\n":
            raise RespProtocolError("bulk payload of %d bytes not followed by CRLF: %r"
                                    % (n, data[-2:]))
        return data[:-2]

    # -- frame parsing --------------------------------------------------------
    def read_reply(self):
        """Read exactly one reply frame and return it as a Python value."""
        return self.read_frame()[0]

    def read_frame(self):
        """Read one reply; return ``(value, raw_bytes_of_the_frame)``.

        Attribute frames (``|``) that precede the reply are part of the raw
        bytes; the attribute map itself lands in ``self.last_attributes``.
        """
        self._capture_start = self._pos
        self.last_attributes = None
        value = self._parse()
        raw = bytes(self._buf[self._capture_start:self._pos])
        # Drop consumed bytes so the buffer does not grow without bound.
        del self._buf[:self._pos]
        self._pos = 0
        return value, raw

    def _parse_length(self, payload, kind):
        try:
            return int(payload)
        except ValueError:
            raise RespProtocolError("bad %s length %r" % (kind, payload)) from None

    def _parse(self):
        line = self._readline()
        if not line:
            raise RespProtocolError("empty line where a reply type byte was expected")
        t, payload = line[:1], line[1:]
        if t == b"+":
            return SimpleString(payload)
        if t == b"-":
            return RespError(payload)
        if t == b":":
            try:
                return int(payload)
            except ValueError:
                raise RespProtocolError("bad integer reply %r" % payload) from None
        if t == b"$":
            n = self._parse_length(payload, "bulk")
            if n == -1:
                return None
            if n < 0:
                raise RespProtocolError("negative bulk length %d" % n)
            return self._read_crlf_terminated(n)
        if t == b"*":
            n = self._parse_length(payload, "array")
            if n == -1:
                return None
            return [self._parse() for _ in range(n)]
        if t == b"_":
            if payload:
                raise RespProtocolError("null frame with payload %r" % payload)
            return None
        if t == b",":
            text = payload.decode("ascii", "replace").lower()
            try:
                return float(text)  # float() accepts inf, -inf, nan
            except ValueError:
                raise RespProtocolError("bad double %r" % payload) from None
        if t == b"#":
            if payload == b"t":
                return True
            if payload == b"f":
                return False
            raise RespProtocolError("bad boolean %r" % payload)
        if t == b"!":
            n = self._parse_length(payload, "blob error")
            return RespError(self._read_crlf_terminated(n), blob=True)
        if t == b"=":
            n = self._parse_length(payload, "verbatim")
            data = self._read_crlf_terminated(n)
            if len(data) < 4 or data[3:4] != b":":
                raise RespProtocolError("bad verbatim string %r" % data[:16])
            return VerbatimString(data[4:], data[:3])
        if t == b"(":
            try:
                return BigNumber(int(payload))
            except ValueError:
                raise RespProtocolError("bad big number %r" % payload) from None
        if t == b"%":
            n = self._parse_length(payload, "map")
            result = RespMap()
            for _ in range(n):
                key = self._parse()
                result[_hashable(key)] = self._parse()
            return result
        if t == b"~":
            n = self._parse_length(payload, "set")
            return RespSet(self._parse() for _ in range(n))
        if t == b">":
            n = self._parse_length(payload, "push")
            return Push(self._parse() for _ in range(n))
        if t == b"|":
            n = self._parse_length(payload, "attribute")
            attrs = RespMap()
            for _ in range(n):
                key = self._parse()
                attrs[_hashable(key)] = self._parse()
            value = self._parse()
            self.last_attributes = attrs
            return value
        raise RespProtocolError("unknown RESP type byte %r in line %r" % (t, line[:64]))
