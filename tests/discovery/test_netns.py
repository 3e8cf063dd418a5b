"""Discovery between three "hosts" (network namespaces on one bridge), and with avahi."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid

import pytest

from tests.discovery.processes import REPO, PeerProcess, is_event, peer_argv, pipes
from tests.netns import NetnsLab, netns_available

available, why_not = netns_available()
pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.skipif(not available, reason=why_not)]


def test_three_hosts_see_each_other_and_a_goodbye() -> None:
    run = uuid.uuid4().hex[:6]
    with NetnsLab(hosts=3) as lab:
        ids = [f"peer{i}-{run}" for i in range(3)]
        peers = [
            # No interface named: the default choice must find eth0 and leave lo out.
            PeerProcess(lab.popen(host, peer_argv(ids[i], f"Host {i}", 4800 + i), cwd=REPO, text=True, **pipes()))
            for i, host in enumerate(lab.hosts)
        ]
        try:
            for peer in peers:
                started = peer.wait_for(is_event("started"), timeout=10)
                assert "using eth0" in started["interfaces"] and "using lo" not in started["interfaces"]
            for i, peer in enumerate(peers):
                for j, host in enumerate(lab.hosts):
                    if i == j:
                        continue
                    seen = peer.wait_for(is_event("appeared", peer_id=ids[j]), timeout=5)["peer"]
                    assert seen["port"] == 4800 + j and seen["name"] == f"Host {j}"
                    ipv4 = [a for a in seen["addresses"] if ":" not in a]
                    assert ipv4 == [host.ip]
                    link_local = lab.ipv6_link_local(host)
                    if link_local is not None:
                        # Scoped with the index of the receiving interface, usable for connect().
                        assert any(a.split("%")[0] == link_local for a in seen["addresses"])

            leaving = time.monotonic()
            assert peers[0].quit() == 0
            for peer in peers[1:]:
                peer.wait_for(is_event("left", peer_id=ids[0]), timeout=2)
            print(f"goodbye seen by both others {time.monotonic() - leaving:.2f} s after quit")
            assert peers[1].quit() == 0 and peers[2].quit() == 0
        finally:
            for peer in peers:
                peer.kill()


# Runs inside a host namespace and a private mount namespace: a private /run (so the machine's
# avahi and dbus are untouched), a private system bus, then avahi-daemon without privilege drop.
AVAHI_SCRIPT = r"""
set -eu
mount -t tmpfs chorus-run /run
mkdir -p /run/dbus /run/avahi-daemon
cat > "$WORK/dbus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
CONF
cat > "$WORK/avahi.conf" <<CONF
[server]
host-name=avahi-$RUN
use-ipv4=yes
use-ipv6=yes
allow-interfaces=eth0
enable-dbus=yes
ratelimit-interval-usec=0
[publish]
publish-workstation=no
publish-hinfo=no
[reflector]
[rlimits]
CONF
dbus-daemon --config-file="$WORK/dbus.conf" --nofork --nopidfile &
DBUS=$!
for _ in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.05; done
avahi-daemon --no-drop-root --no-chroot --no-proc-title -f "$WORK/avahi.conf" &
AVAHI=$!
for _ in $(seq 100); do avahi-browse -at >/dev/null 2>&1 && break; sleep 0.05; done
echo READY
avahi-publish -s "Avahi Peer $RUN" _chorus._tcp 7001 "id=avahi-$RUN" v=1 "name=Avahi Peer" docs=3 &
PUBLISH=$!
for _ in $(seq 100); do
  if avahi-browse -rpt _chorus._tcp | grep "chorus-$RUN" | grep -q '^='; then break; fi
  sleep 0.1
done
avahi-browse -rpt _chorus._tcp | sed 's/^/BROWSE /'
echo BROWSED
read _ || true
kill "$PUBLISH" "$AVAHI" "$DBUS"
wait
"""


def unescape(label: str) -> str:
    """Undo avahi-browse's decimal escapes ("Chorus\\032Peer" -> "Chorus Peer")."""
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1))), label)


def _avahi_missing() -> str | None:
    for tool in ("avahi-daemon", "avahi-browse", "avahi-publish", "dbus-daemon", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install avahi-daemon avahi-utils)"
    return None


@pytest.mark.skipif(_avahi_missing() is not None, reason=_avahi_missing() or "")
def test_avahi_sees_chorus_and_chorus_sees_avahi(tmp_path) -> None:
    run = uuid.uuid4().hex[:6]
    with NetnsLab(hosts=2) as lab:
        avahi_host, chorus_host = lab.hosts
        chorus = PeerProcess(
            lab.popen(chorus_host, peer_argv(f"chorus-{run}", "Chorus Peer", 4900, docs=2), cwd=REPO, text=True, **pipes())
        )
        avahi = lab.popen(
            avahi_host,
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", AVAHI_SCRIPT],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "WORK": str(tmp_path), "RUN": run},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            chorus.wait_for(is_event("started"), timeout=10)
            output = []
            assert avahi.stdout is not None
            for line in avahi.stdout:
                output.append(line.rstrip())
                if line.startswith("BROWSED"):
                    break
            browse = [line.split(";") for line in output if line.startswith("BROWSE =")]
            ours = [fields for fields in browse if f'"id=chorus-{run}"' in fields[-1]]
            assert ours, f"avahi-browse did not resolve the Chorus peer:\n" + "\n".join(output)
            fields = ours[0]
            # avahi-browse -p: =;iface;proto;name;type;domain;host;address;port;txt
            assert unescape(fields[3]) == "Chorus Peer" and fields[8] == "4900"
            assert all(t in fields[9] for t in ('"v=1"', '"name=Chorus Peer"', '"docs=2"'))

            seen = chorus.wait_for(is_event("appeared", peer_id=f"avahi-{run}"), timeout=5)["peer"]
            assert seen["name"] == "Avahi Peer" and seen["port"] == 7001 and seen["docs"] == 3
            assert avahi_host.ip in seen["addresses"]
            assert chorus.quit() == 0
        finally:
            chorus.kill()
            if avahi.poll() is None:
                assert avahi.stdin is not None
                avahi.stdin.close()
                avahi.wait(10)
            if avahi.stdout is not None:
                avahi.stdout.close()
