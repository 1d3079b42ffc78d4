#!/bin/sh
# A live system's root account: no password (anyone at the keyboard owns a
# live system anyway), and no machine ID baked into the image (systemd
# makes one at each boot).
set -eu
chroot "$1" passwd --delete root >/dev/null
: >"$1/etc/machine-id"
rm -f "$1/var/lib/dbus/machine-id"
