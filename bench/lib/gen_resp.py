#!/usr/bin/python3
"""Write RESP protocol for COUNT `SET key:%012d val:%012d` commands.

Both keys and values are exactly 16 bytes.  The output is meant for
`redis-cli --pipe`.  Standard library only.

usage: gen_resp.py COUNT OUTFILE
"""
import sys


def main() -> int:
    if len(sys.argv) != 3:
        sys.stderr.write("usage: gen_resp.py COUNT OUTFILE\n")
        return 2
    count = int(sys.argv[1])
    out = sys.argv[2]
    if count < 0 or count > 10**12:
        sys.stderr.write("COUNT out of range\n")
        return 2
    # key:%012d and val:%012d are both 16 bytes long.
    fmt = "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$16\r\nval:%012d\r\n"
    chunk = 50000
    with open(out, "wb", buffering=1 << 20) as f:
        for start in range(0, count, chunk):
            end = min(start + chunk, count)
            f.write("".join([fmt % (i, i) for i in range(start, end)]).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
