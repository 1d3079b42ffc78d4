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
import socket
import sys

from serial_console import Console


def main():
    steps = [line for line in open(sys.argv[1]).read().splitlines()
             if line.strip() and not line.startswith("#")]
    con = Console(sys.argv[2:], "serial_expect")
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
            ok = con.wait_for(arg.encode()) is not None
        elif word == "send":
            con.send(arg)
        elif word == "monitor":
            ok = monitor_send(arg)
        elif word == "keys":
            con.type(codecs.escape_decode(arg.replace("\\e", "\\x1b").encode())[0])
        else:
            con.say(b"unknown step %s" % step.encode())
            ok = False
        if not ok:
            break
    return con.finish(ok)


if __name__ == "__main__":
    sys.exit(main())
