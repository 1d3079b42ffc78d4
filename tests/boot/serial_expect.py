#!/usr/bin/env python3
"""Drive a QEMU guest through its serial console, step by step.

    serial_expect.py SCRIPT QEMU-ARGV...

Starts QEMU (its first serial port must be on stdio) and runs the lines of
SCRIPT in order:

    expect REGEX   read until the console's output (since the last match)
                   matches the Python regular expression REGEX; the output
                   is matched as it comes, so a pattern for a whole line
                   ends in [\r\n] (else it may match a line half read)
    send TEXT      type TEXT and Enter (a carriage return, as a terminal)
    keys TEXT      type TEXT as it is; \\e (escape), \\r, \\n, \\xNN and \\\\
                   are read as in Python strings (arrow down: \\e[B)
    monitor CMD    send CMD to QEMU's human monitor on the socket named by
                   $MONITOR_SOCKET (QEMU started with -monitor
                   unix:PATH,server=on,wait=off): "sendkey down" presses a
                   key on the machine's own keyboard, for firmware and boot
                   loaders that read it (GRUB under OVMF reads the serial
                   port and the firmware's console both, so typed escape
                   sequences there can be split between them)
    # ...          a comment

then stops QEMU. Everything the guest writes goes to stdout as it comes,
for the test to grep. Exit status 0 when every step was done, 1 when an
expect did not match within $BOOT_TIMEOUT seconds (default 240) or QEMU
stopped first (the step is named on stdout).
"""
import codecs
import os
import re
import select
import socket
import subprocess
import sys
import time


def main():
    steps = [line for line in open(sys.argv[1]).read().splitlines()
             if line.strip() and not line.startswith("#")]
    deadline = time.monotonic() + int(os.environ.get("BOOT_TIMEOUT", "240"))
    qemu = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = sys.stdout.buffer
    seen = b""

    def expect(pattern):
        nonlocal seen
        rx = re.compile(pattern.encode())
        while True:
            m = rx.search(seen)
            if m:
                seen = seen[m.end():]
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                out.write(b"\nserial_expect: timed out waiting for %s\n" % pattern.encode())
                return False
            ready, _, _ = select.select([qemu.stdout], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(qemu.stdout.fileno(), 65536)
                if not chunk:
                    out.write(b"\nserial_expect: QEMU stopped waiting for %s\n" % pattern.encode())
                    return False
                out.write(chunk)
                out.flush()
                seen += chunk

    def type_bytes(data):
        qemu.stdin.write(data)
        qemu.stdin.flush()

    monitor = None

    def monitor_send(cmd):
        nonlocal monitor
        if monitor is None:
            monitor = socket.socket(socket.AF_UNIX)
            monitor.connect(os.environ["MONITOR_SOCKET"])
        monitor.sendall(cmd.encode() + b"\n")
        return True

    ok = True
    for step in steps:
        word, _, arg = step.partition(" ")
        if word == "expect":
            ok = expect(arg)
        elif word == "send":
            type_bytes(arg.encode() + b"\r")
        elif word == "monitor":
            ok = monitor_send(arg)
        elif word == "keys":
            type_bytes(codecs.escape_decode(arg.replace("\\e", "\\x1b").encode())[0])
        else:
            out.write(b"\nserial_expect: unknown step %s\n" % step.encode())
            ok = False
        if not ok:
            break
    out.write(b"\nserial_expect: %s\n" % (b"done" if ok else b"failed"))
    out.flush()
    qemu.kill()
    qemu.wait()
    sys.exit(0 if ok else 1)


main()
