"""A QEMU guest's serial console, for the test drivers serial_expect.py and
serial_login.py (imported; they sit in the same directory).

Console(argv, name) starts QEMU (its first serial port must be on stdio).
Everything the guest writes is copied to stdout as it comes, for the test
to grep. wait_for() reads until a regular expression matches the output
since the last match, within $BOOT_TIMEOUT seconds (default 240) of the
start; send() and type() write to the console; finish() stops QEMU and
says whether every step was done.
"""
import os
import re
import select
import subprocess
import sys
import time


class Console:
    def __init__(self, argv, name):
        self.name = name.encode()
        self.deadline = time.monotonic() + int(os.environ.get("BOOT_TIMEOUT", "240"))
        self.qemu = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = sys.stdout.buffer
        self.seen = b""

    def say(self, text):
        self.out.write(b"\n%s: %s\n" % (self.name, text))
        self.out.flush()

    def wait_for(self, pattern):
        """The match of pattern (bytes, a regular expression) in the output
        since the last match, or None (said on stdout) when the time is up
        or QEMU stopped first. Output is matched as it comes: a pattern for
        a whole line ends in [\\r\\n], else it may match a line half read."""
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.seen)
            if m:
                self.seen = self.seen[m.end():]
                return m
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.say(b"timed out waiting for %s" % pattern)
                return None
            ready, _, _ = select.select([self.qemu.stdout], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.qemu.stdout.fileno(), 65536)
                if not chunk:
                    self.say(b"QEMU stopped waiting for %s" % pattern)
                    return None
                self.out.write(chunk)
                self.out.flush()
                self.seen += chunk

    def type(self, data):
        """Type data (bytes) as it is."""
        self.qemu.stdin.write(data)
        self.qemu.stdin.flush()

    def send(self, text):
        """Type text and Enter (a carriage return, as a terminal)."""
        self.type(text.encode() + b"\r")

    def finish(self, ok):
        """Stop QEMU; the exit status for ok."""
        self.say(b"done" if ok else b"failed")
        self.qemu.kill()
        self.qemu.wait()
        return 0 if ok else 1
