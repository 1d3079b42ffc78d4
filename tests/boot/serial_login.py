#!/usr/bin/env python3
"""Log in on a QEMU guest's serial console and run commands there.

    serial_login.py COMMANDS-FILE QEMU-ARGV...

Starts QEMU (its first serial port must be on stdio), waits for a login
prompt, logs in as $LOGIN_USER (default root; no password), or with
AUTOLOGIN=1 waits for agetty's "login: NAME (automatic login)" and types
nothing (a "Password:" prompt then is a failure), runs each line
of COMMANDS-FILE at the shell prompt, one after the other, then stops QEMU.
Everything the guest writes goes to stdout, as it comes, for the test to
grep. Exit status: 0 when every command got back to a prompt, 1 when the
login prompt or a prompt did not come within $BOOT_TIMEOUT seconds (default
240) or QEMU stopped first.

A line "#QMP {json}" is not typed: it is sent to QEMU's QMP socket named by
$QMP_SOCKET (QEMU started with -qmp unix:PATH,server=on,wait=off), for
device_add and device_del between commands; its answer goes to stdout as
"QMP-REPLY {json}".
"""
import json
import os
import socket
import sys

from serial_console import Console


def main():
    commands = open(sys.argv[1]).read().splitlines()
    user = os.environ.get("LOGIN_USER", "root")
    con = Console(sys.argv[2:], "serial_login")
    wait_for, send, out = con.wait_for, con.send, con.out

    qmp = None

    def qmp_send(text):
        nonlocal qmp
        if qmp is None:
            qmp = socket.socket(socket.AF_UNIX)
            qmp.connect(os.environ["QMP_SOCKET"])
            qmp_read()  # the greeting
            qmp.sendall(b'{"execute": "qmp_capabilities"}\n')
            qmp_read()
        qmp.sendall(text.encode() + b"\n")
        reply = qmp_read()
        out.write(b"\nQMP-REPLY %s\n" % json.dumps(reply).encode())
        return "error" not in reply

    def qmp_read():
        # One answer (or the greeting); events in between are passed over.
        data = b""
        while True:
            chunk = qmp.recv(65536)
            if not chunk:
                return {"error": "QMP closed"}
            data += chunk
            *lines, data = data.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                msg = json.loads(line)
                if "return" in msg or "error" in msg or "QMP" in msg:
                    return msg

    # A shell prompt ends in "# " (root) or "$ ".
    prompt = rb"[#$] $|[#$] \x1b"
    if os.environ.get("AUTOLOGIN") == "1":
        ok = wait_for(rb"login: \S+ \(automatic login\)")
        m = ok and wait_for(rb"Password: |" + prompt)
        ok = bool(m) and m.group(0) != b"Password: "
        if m and not ok:
            con.say(b"asked for a password")
    else:
        ok = wait_for(rb"login: ")
        if ok:
            send(user)
            ok = wait_for(prompt)
    for cmd in commands:
        if not ok:
            break
        if cmd.startswith("#QMP "):
            ok = qmp_send(cmd[5:])
            continue
        send(cmd)
        ok = wait_for(prompt)
    return con.finish(ok)


if __name__ == "__main__":
    sys.exit(main())
