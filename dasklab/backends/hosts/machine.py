"""Engine hosts on this machine: each a network namespace with its own
containerd and dockerd, joined by veths to one bridge (make hosts-up).

Not containers posing as hosts: each host is a kernel network namespace
(its own interfaces, routes, iptables), a mount namespace (its own
/run/docker, /run/containerd and /etc/docker, so nothing collides with the
user's engine) and a UTS namespace (its own hostname, which Swarm's
placement constraints read). Its daemons keep their data under
DATA/hN and their sockets under RUN/hN. The recipe and why each flag is
needed: docs/hosts.md (checked on Docker 20.10, containerd 1.6, cgroup v1).

       root namespace                 10.213.0.0/24, no default route
    +------------------+   dasklab-hv1 ===veth=== eth0 10.213.0.11  host 1 (dockerd, containerd)
    | bridge           |   dasklab-hv2 ===veth=== eth0 10.213.0.12  host 2
    | dasklab-hbr      |   dasklab-hv3 ===veth=== eth0 10.213.0.13  host 3
    | 10.213.0.1       |
    +------------------+

The hosts have no default route on purpose: with no registry, every Swarm
task first tries to pull its image; without a route the pull fails at once
and the local image is used (with one, each task waits out a DNS timeout).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

RUN = Path("/run/dasklab-hosts")  # sockets, pids, logs: gone at reboot, as a host's would be
DATA = Path("/var/lib/dasklab-hosts")  # each host's data root (images, volumes, swarm state)
STATE = RUN / "state.json"
BRIDGE = "dasklab-hbr"
SUBNET = "10.213.0"  # the hosts' link; 10.214-10.216 inside them (bip, pools, overlay)
GATEWAY_IP = f"{SUBNET}.1"
FORWARD_RULE = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-m", "comment", "--comment",
                "dasklab-hosts", "-j", "ACCEPT"]
MAX_HOSTS = 3
# What the launcher needs of this machine, and the package that brings it.
TOOLS = {"ip": "iproute2", "iptables": "iptables", "nsenter": "util-linux",
         "unshare": "util-linux", "dockerd": "docker.io", "containerd": "containerd"}


class HostsError(RuntimeError):
    """Something the user can fix; the message says what."""


@dataclass
class Host:
    n: int

    @property
    def name(self) -> str:  # its hostname, netns and Swarm node name
        return f"dasklab-h{self.n}"

    @property
    def ip(self) -> str:
        return f"{SUBNET}.1{self.n}"

    @property
    def veth(self) -> str:  # the root namespace's end of its link
        return f"dasklab-hv{self.n}"

    @property
    def run(self) -> Path:
        return RUN / f"h{self.n}"

    @property
    def data(self) -> Path:
        return DATA / f"h{self.n}"

    @property
    def socket(self) -> str:
        return f"unix://{self.run}/docker.sock"

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        proc = subprocess.run(["docker", "-H", self.socket, *args], capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise HostsError(f"{self.name}: `docker {' '.join(args)}` exited "
                             f"{proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout.strip()

    def answers(self) -> bool:
        try:
            return subprocess.run(["docker", "-H", self.socket, "info", "--format", "{{.ID}}"],
                                  capture_output=True, timeout=5).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def link_bytes(self) -> tuple[int, int]:
        """(bytes sent, bytes received) by this host over its link, read on the
        root namespace's end (what it receives, the host sent)."""
        base = Path("/sys/class/net") / self.veth / "statistics"
        return int((base / "rx_bytes").read_text()), int((base / "tx_bytes").read_text())


def log(message: str) -> None:
    print(f"[hosts] {message}", file=sys.stderr, flush=True)


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise HostsError(f"`{' '.join(argv)}` exited {proc.returncode}: "
                         f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


# -- preflight ------------------------------------------------------------------
def preflight(n: int) -> None:
    """Refuse, with the fix, before making anything."""
    if not 2 <= n <= MAX_HOSTS:
        raise HostsError(f"N={n}: the lab makes 2 or 3 hosts (make hosts-up N=2)")
    if os.geteuid() != 0:
        raise HostsError("making network namespaces and starting engines needs root: "
                         "run `sudo make hosts-up`")
    missing = [f"{tool} (package {pkg})" for tool, pkg in TOOLS.items() if not shutil.which(tool)]
    if missing:
        raise HostsError(f"missing on this machine: {', '.join(missing)}")
    if STATE.exists() or sh("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        raise HostsError("hosts are already up (or were left half made): `make hosts-down` "
                         "first")
    routes = sh("ip", "-4", "route").stdout
    taken = [r for r in routes.splitlines() if r.split()[0].startswith(("10.213.", "10.214.",
                                                                        "10.215.", "10.216."))]
    if taken:
        raise HostsError("the hosts' subnets 10.213-10.216.x.x are already routed on this "
                         f"machine ({taken[0]}): free them, or change SUBNET in "
                         "dasklab/backends/hosts/machine.py")
    try:
        sh("ip", "netns", "add", "dasklab-hprobe")
        sh("ip", "netns", "del", "dasklab-hprobe")
    except HostsError as e:
        raise HostsError(f"cannot make a network namespace here: {e}") from None


# -- state ---------------------------------------------------------------------------
def save_state(state: dict) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=1))


def load_state() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def hosts_up() -> list[Host]:
    return [Host(n) for n in load_state().get("hosts", [])]


# -- the link ------------------------------------------------------------------------
def make_link(hosts: list[Host]) -> None:
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{GATEWAY_IP}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for h in hosts:
        sh("ip", "netns", "add", h.name)
        sh("ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.name)
        sh("ip", "link", "set", h.veth, "master", BRIDGE, "up")
        sh("ip", "-n", h.name, "addr", "add", f"{h.ip}/24", "dev", "eth0")
        sh("ip", "-n", h.name, "link", "set", "lo", "up")
        sh("ip", "-n", h.name, "link", "set", "eth0", "up")
    # The root namespace filters bridged traffic (bridge-nf-call-iptables, and
    # Docker's FORWARD policy DROP): without this the hosts cannot reach each other.
    sh("iptables", "-I", *FORWARD_RULE[:1], "1", *FORWARD_RULE[1:])


def set_link(host: Host, up: bool) -> None:
    """Plug or unplug the host's cable (the root namespace's end)."""
    sh("ip", "link", "set", host.veth, "up" if up else "down")


# -- the daemons -----------------------------------------------------------------------
NODE_SCRIPT = """#!/bin/sh
# One engine host's daemons, started inside its network namespace by
# dasklab/backends/hosts/machine.py: nsenter --net, then unshare -m -u.
set -e
N=$1; R={run}/h$N; D={data}/h$N
hostname dasklab-h$N
# Private copies of the paths every dockerd and containerd hard-code: shim
# sockets, libnetwork state, and the user's daemon.json (its data-root and its
# key.json would collide with this engine's).
mount -t tmpfs dasklab-h$N-containerd /run/containerd
mount -t tmpfs dasklab-h$N-docker /run/docker
mount -t tmpfs dasklab-h$N-etc /etc/docker
containerd --config $R/containerd.toml >>$R/containerd.log 2>&1 &
echo $! > $R/containerd.pid
i=0; while [ ! -S $R/containerd.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
exec dockerd --config-file $R/daemon.json -H unix://$R/docker.sock \\
  --containerd $R/containerd.sock --data-root $D/docker --exec-root $R/exec \\
  --pidfile $R/docker.pid --storage-driver {storage} --cgroup-parent dasklab-h$N \\
  --bip 10.214.$N.1/24 --default-address-pool base=10.216.$((N*16)).0/20,size=24 \\
  --userland-proxy=false >>$R/dockerd.log 2>&1
"""

CONTAINERD_TOML = """version = 2
root = "{data}/containerd"
state = "{run}/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{run}/containerd.sock"
[ttrpc]
  address = "{run}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{data}/containerd-opt"
"""


def storage_driver() -> str:
    """The user's engine's storage driver: it is the one known to work on this
    machine's filesystem (fuse-overlayfs where / is itself an overlay)."""
    out = sh("docker", "info", "--format", "{{.Driver}}", check=False).stdout.strip()
    return out or "overlay2"


# The paths NODE_SCRIPT mounts over must exist; one missing (an engine whose
# containerd lives elsewhere) is made, and removed again by remove_all.
MOUNT_POINTS = (Path("/run/containerd"), Path("/run/docker"), Path("/etc/docker"))


def make_mount_points() -> list[str]:
    made = []
    for p in MOUNT_POINTS:
        if not p.exists():
            p.mkdir(parents=True)
            made.append(str(p))
    return made


def start_daemons(host: Host, storage: str, timeout: float = 60) -> int:
    """Start the host's containerd and dockerd; the pid of its dockerd once it answers."""
    host.run.mkdir(parents=True, exist_ok=True)
    (host.data / "containerd").mkdir(parents=True, exist_ok=True)
    (host.run / "containerd.toml").write_text(
        CONTAINERD_TOML.format(data=host.data, run=host.run))
    (host.run / "daemon.json").write_text("{}\n")
    script = RUN / "node.sh"
    script.write_text(NODE_SCRIPT.format(run=RUN, data=DATA, storage=storage))
    script.chmod(0o755)
    with open(host.run / "launcher.log", "ab") as out:
        proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{host.name}", "unshare", "-m", "-u",
             "--propagation", "slave", str(script), str(host.n)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not host.answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = _tail(host.run / "dockerd.log") or _tail(host.run / "launcher.log")
            raise HostsError(f"{host.name}'s dockerd did not answer within {timeout:.0f} s"
                             f" (exit {proc.poll()}); its log ends:\n{tail}")
        time.sleep(0.2)
    return proc.pid  # exec'd: the launcher's pid is dockerd's


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def host_pids(host: Host) -> list[int]:
    """Every process of the host: its daemons and shims (in its network
    namespace) and its containers' processes (in its cgroup)."""
    pids = set()
    out = sh("ip", "netns", "pids", host.name, check=False).stdout
    pids |= {int(p) for p in out.split()}
    for procs in Path("/sys/fs/cgroup").glob(f"*/{host.name}/**/cgroup.procs"):
        try:
            pids |= {int(p) for p in procs.read_text().split()}
        except OSError:
            pass
    pids.discard(os.getpid())
    return sorted(pids)


def power_off(host: Host) -> None:
    """As a host losing power: its cable goes first (so no process's last
    words, a FIN or RST, reach anyone), then every process of it dies at once."""
    set_link(host, up=False)
    for pid in host_pids(host):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def power_on(host: Host, timeout: float = 60) -> None:
    """Boot the host again: same data root, so the same engine and swarm node."""
    _wait_gone(host, 20)
    set_link(host, up=True)
    state = load_state()
    state.setdefault("pids", {})[host.name] = start_daemons(host, state["storage"], timeout)
    save_state(state)


def _wait_gone(host: Host, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := host_pids(host)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def alive(pid: int) -> bool:
    """Running, and not a zombie of ours: the tests start daemons and the
    door from their own process, and a killed child stays in /proc until reaped."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child (`make hosts-down` after `make hosts-up`)
    return Path(f"/proc/{pid}").exists()


def stop_daemons(host: Host) -> None:
    """dockerd then containerd gracefully, then anything of the host left."""
    for name in ("docker.pid", "containerd.pid"):
        try:
            pid = int((host.run / name).read_text())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            continue
        deadline = time.monotonic() + 20
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    for pid in host_pids(host):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait_gone(host, 10)


# -- teardown and what is left ----------------------------------------------------
def known_hosts() -> list[Host]:
    """Hosts of the state file, and any dasklab-hN namespace or folder left
    by a run that died before writing it."""
    found = {h.n for h in hosts_up()}
    netns = sh("ip", "netns", "list", check=False).stdout.split()
    found |= {int(w[9:]) for w in netns if w.startswith("dasklab-h") and w[9:].isdigit()}
    for base in (RUN, DATA):
        if base.exists():
            found |= {int(p.name[1:]) for p in base.iterdir()
                      if p.is_dir() and p.name[1:].isdigit()}
    return [Host(n) for n in sorted(found)]


def remove_all() -> None:
    """Take down whatever hosts exist, in the order that leaves nothing."""
    made_dirs = load_state().get("made_dirs", [])
    for host in known_hosts():
        stop_daemons(host)
    for host in known_hosts():
        sh("ip", "netns", "del", host.name, check=False)
        sh("ip", "link", "del", host.veth, check=False)
        for d in sorted(Path("/sys/fs/cgroup").glob(f"*/{host.name}"), reverse=True):
            for sub in sorted(d.glob("**/"), key=lambda p: len(p.parts), reverse=True):
                try:
                    sub.rmdir()
                except OSError:
                    pass
        _unmount_under(host.data)
        shutil.rmtree(host.data, ignore_errors=True)
        shutil.rmtree(host.run, ignore_errors=True)
    sh("ip", "link", "del", BRIDGE, check=False)
    while sh("iptables", "-C", *FORWARD_RULE, check=False).returncode == 0:
        sh("iptables", "-D", *FORWARD_RULE)
    for path in (RUN, DATA):
        shutil.rmtree(path, ignore_errors=True)
    for path in made_dirs:
        try:
            Path(path).rmdir()  # only if still empty: someone else may use it now
        except OSError:
            pass


def _unmount_under(path: Path) -> None:
    """Mounts the hosts made live in their own mount namespaces and die with
    them; this catches one that leaked into the root namespace."""
    for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
        target = line.split()[1]
        if target.startswith(str(path)):
            sh("umount", "-l", target, check=False)


def leftovers() -> list[str]:
    """Anything of the hosts still on this machine (empty after hosts-down)."""
    out = []
    netns = [w for w in sh("ip", "netns", "list", check=False).stdout.split()
             if w.startswith("dasklab-h")]
    out += [f"network namespace {n}" for n in netns]
    links = sh("ip", "-o", "link", "show", check=False).stdout
    out += [f"link {m}" for m in re.findall(r"^\d+: (dasklab-h[^:@]+)", links, re.M)]
    if sh("iptables", "-C", *FORWARD_RULE, check=False).returncode == 0:
        out.append("iptables FORWARD rule dasklab-hosts")
    out += [f"path {p}" for p in (RUN, DATA) if p.exists()]
    out += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob("*/dasklab-h*")]
    procs = sh("ps", "-eo", "pid,args", check=False).stdout.splitlines()
    out += [f"process {p.strip()}" for p in procs
            if ("dasklab-hosts" in p or "dasklab.plugins.forward --bind" in p)
            and "ps -eo" not in p and str(os.getpid()) != p.split()[0]]
    out += [f"mount {line.split()[1]}" for line in Path("/proc/self/mounts").read_text()
            .splitlines() if "dasklab-h" in line.split()[1] and "/run/netns" not in line]
    return out


def state_record(hosts: list[Host], storage: str, pids: dict[str, int]) -> dict:
    return {"hosts": [h.n for h in hosts], "storage": storage, "pids": pids, "made_dirs": [],
            "subnet": SUBNET, "made": time.time(), "layout": [asdict(h) for h in hosts]}
