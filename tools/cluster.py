"""Start and stop a local management cluster: etcd, kube-apiserver and the garbage-collector
and namespace controllers of kube-controller-manager on loopback, with the real CRDs.

    python tools/cluster.py up [--sveltos] [--workloads N]   # idempotent; prints the kubeconfig path
    python tools/cluster.py sveltos-up       # Sveltos on an already running control plane
    python tools/cluster.py sveltos-down     # stops the Sveltos processes only
    python tools/cluster.py workloads-up N   # workload-1..N on an already running control plane
    python tools/cluster.py workloads-down   # stops the workload API servers only
    python tools/cluster.py down    # stops every process, frees the ports, removes the data
    python tools/cluster.py status

With --sveltos (``make cluster-up SVELTOS=1``) the management cluster also runs Sveltos:
every CRD of libsveltos, event-manager and addon-controller (read from the modules pinned
in tools/go/sveltos), the management cluster registered as SveltosCluster mgmt/mgmt, and
three processes: event-manager and addon-controller (built from their published modules)
and eventreporter, the project's stand-in for sveltos-agent, whose module is not served
(tools/go/sveltos/eventreporter). The agent runs "in the management cluster"
(--agent-in-mgmt-cluster=true): event-manager then leaves the EventSources this program
declares untouched (see docs/modes.md, "Events mode with real Sveltos").

With --workloads N (``make cluster-up WORKLOADS=N``) it also starts N workload clusters,
workload-1..N: each a kube-apiserver of its own on loopback with its own CA, its own admin
client certificate (CN kubernetes-admin, O system:masters, as Cluster API issues it), its own
service-account signing key and issuer (TokenRequest works), and its own storage: the same etcd
under the key prefix /workload-N, emptied before the server starts, so objects never mix and a
restart starts from nothing. Each has its own kube-controller-manager with the garbage collector
and the namespace controller only, as the management cluster has (a deleted namespace goes, as on a
real cluster). They start in parallel with the management
API server; `down` stops them too. tests/integration/workloads.py is the Python API over them
(servers, CAPI Clusters and their kubeconfig Secrets on the management cluster).

State lives in ``.local/`` of the repository (git-ignored): ``kubeconfig`` (admin),
``cluster.json`` (ports, pids, data dir, workload servers), ``workloads/workload-N.kubeconfig``
(each workload cluster's admin kubeconfig). Certificates are generated locally with
openssl. The CRDs are read from the Go modules pinned in tools/go/crds (downloaded
into Go's module cache on first use), never from the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local"
STATE = LOCAL / "cluster.json"
KUBECONFIG = LOCAL / "kubeconfig"
WORKLOAD_KUBECONFIGS = LOCAL / "workloads"
CACHE = Path(os.environ.get("CLUSTER_INVENTORY_CACHE", Path.home() / ".cache" / "cluster-inventory"))
TOOLS_BIN = CACHE / "tools" / "bin"

# Module path -> CRD manifests it publishes (SPEC §7).
CRD_SOURCES = {
    "sigs.k8s.io/cluster-inventory-api": ["config/crd/bases/multicluster.x-k8s.io_clusterprofiles.yaml"],
    "sigs.k8s.io/cluster-api": ["config/crd/bases/cluster.x-k8s.io_clusters.yaml"],
    "github.com/projectsveltos/libsveltos": [
        "config/crd/bases/lib.projectsveltos.io_sveltosclusters.yaml",
        "config/crd/bases/lib.projectsveltos.io_eventsources.yaml",
    ],
    "github.com/projectsveltos/event-manager": ["config/crd/bases/lib.projectsveltos.io_eventtriggers.yaml"],
}
STARTUP_TIMEOUT_S = 90
POLL_INTERVAL_S = 0.2

# Sveltos (``up --sveltos``): every CRD these modules publish, from tools/go/sveltos.
SVELTOS_CRD_MODULES = (
    "github.com/projectsveltos/libsveltos",
    "github.com/projectsveltos/event-manager",
    "github.com/projectsveltos/addon-controller",
)
SVELTOS_VERSION = "v1.5.0"  # tools/versions.env EVENT_MANAGER_VERSION, announced by the agent handshake
SVELTOS_PROGRAMS = ("event-manager", "addon-controller", "eventreporter")
MGMT_NAMESPACE = "mgmt"
MGMT_CLUSTER = "mgmt"
SVELTOS_NAMESPACE = "projectsveltos"
# The SveltosCluster's labels: the default managementClusterSelector (Pulumi.yaml).
MGMT_CLUSTER_LABELS = {"type": "mgmt"}
# Workload clusters (``--workloads N``): names, and what sets each apart from the others.
WORKLOAD_NAME = "workload-{index}"  # also its etcd prefix, its issuer's host, its kubeconfig's name
# Cluster API's admin certificate (util/kubeconfig.New): a workload cluster's admin is the one
# CAPI would hand out, not this script's management admin.
WORKLOAD_ADMIN_SUBJECT = "/O=system:masters/CN=kubernetes-admin"
MGMT_ADMIN_SUBJECT = "/O=system:masters/CN=cluster-inventory-admin"
MGMT_ISSUER = "https://kubernetes.default.svc"


# The executables this script starts: a pid recorded in cluster.json counts as ours only while
# it runs one of these (after a reboot the pid may belong to another program).
OUR_PROGRAMS = frozenset({"etcd", "kube-apiserver", "kube-controller-manager", *SVELTOS_PROGRAMS})


def log(message: str) -> None:
    print(f"[cluster] {message}", file=sys.stderr, flush=True)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open while choosing, so no two are equal)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class Launched:
    """A process this run started: what to check it against, and where it writes."""

    pid: int
    program: str  # name of the executable it runs (symlinks resolved), e.g. "kube-apiserver"
    log: Path


def program_name(pid: int) -> str | None:
    """Name of the executable that process ``pid`` runs, or None when it is gone or a zombie.

    Read from ``/proc/<pid>/exe``, not ``/proc/<pid>/cmdline``. The kernel points ``exe`` at the
    new binary during execve, before it closes the close-on-exec pipe that subprocess.Popen
    reads until EOF, so the name is right as soon as Popen returns. ``cmdline`` is filled in
    later, once the new program's stack is set up: read at once after a launch it was often
    still empty (issue 16). A zombie, or a process on its way out, has no ``exe`` any more.
    A binary replaced on disk while it runs (``make tools`` again) reads as "NAME (deleted)".
    """
    try:
        target = os.readlink(f"/proc/{pid}/exe")
    except PermissionError:
        # Another user's process (``exe`` needs ptrace rights, ``cmdline`` does not). We did not
        # just launch it, so argv[0], as read before issue 16, is settled by now.
        return _argv0_name(pid)
    except OSError:
        return None
    return Path(target.removesuffix(" (deleted)")).name


def _argv0_name(pid: int) -> str | None:
    """Name of the program in the process's argv[0]; None when it is gone or a zombie (whose
    command line is empty)."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return None
    return Path(argv0).name or None


def alive(pid: int, program: str | None = None) -> bool:
    """The process runs and is one of ours: ``program`` when given (what was launched as
    ``pid``), else any of OUR_PROGRAMS (a pid read back from cluster.json, which another program
    may have taken over since, e.g. after a reboot). Zombies and exited processes are gone."""
    name = program_name(pid)
    return name == program if program is not None else name in OUR_PROGRAMS


def load_state() -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(STATE.read_text())
        return state
    except (OSError, ValueError):
        return None


def tool(name: str) -> str:
    path = TOOLS_BIN / name
    if not path.exists():
        sys.exit(f"{path} is missing: run `make tools` first")
    return str(path)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(pki: Path, ca_name: str = "cluster-inventory-local-ca", admin_subject: str = MGMT_ADMIN_SUBJECT) -> None:
    """A CA, a serving cert for 127.0.0.1/localhost, an admin client cert, a service-account key."""
    pki.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-keyout", "ca.key",
            "-out", "ca.crt", "-subj", f"/CN={ca_name}", cwd=pki)
    ext = pki / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n")
    for name, subject, extfile in (
        ("server", "/CN=kube-apiserver", str(ext)),
        ("admin", admin_subject, None),
    ):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject, cwd=pki)
        sign = ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "30", "-out", f"{name}.crt"]
        if extfile:
            sign += ["-extfile", extfile]
        openssl(*sign, cwd=pki)
    openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def write_kubeconfig(pki: Path, port: int, path: Path = KUBECONFIG, name: str = "local") -> None:
    import base64

    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": f"https://127.0.0.1:{port}", "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": "admin", "user": {
            "client-certificate-data": b64("admin.crt"), "client-key-data": b64("admin.key")}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": "admin"}}],
        "current-context": name,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def spawn(args: list[str], logfile: Path) -> Launched:
    """Start ``args`` in its own session (so ``stop`` can signal its whole group), output to
    ``logfile``. Popen returns once the exec has happened (or raises when it failed), so the
    result can be checked with ``alive`` at once."""
    with logfile.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    return Launched(proc.pid, Path(os.path.realpath(shutil.which(args[0]) or args[0])).name, logfile)


def exited(process: Launched, what: str) -> SystemExit:
    """The error for a process that stopped while starting: its pid and the end of its log."""
    tail = process.log.read_text(errors="replace")[-3000:]
    return SystemExit(f"{what}: process {process.pid} exited; last log lines:\n{tail}")


def wait_for(check: Callable[[], bool], what: str, processes: list[Launched]) -> None:
    """Poll ``check`` until it holds; stop early, with its log, when one of ``processes`` exits."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        for process in processes:
            if not alive(process.pid, process.program):
                raise exited(process, what)
        time.sleep(POLL_INTERVAL_S)
    logs = [str(process.log) for process in processes]
    raise SystemExit(f"{what}: not ready after {STARTUP_TIMEOUT_S} s (logs in {logs})")


def healthy(port: int, pki: Path) -> bool:
    import ssl
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def etcd_healthy(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def module_dirs(wrapper: Path, modules: list[str]) -> dict[str, str]:
    """Module path -> its directory in Go's module cache (downloaded on first use)."""
    env = dict(os.environ, GOFLAGS="-mod=readonly",
               GONOSUMDB="github.com/projectsveltos,sigs.k8s.io/cluster-inventory-api")
    out = subprocess.run(["go", "mod", "download", "-json", *modules], cwd=wrapper, env=env,
                         check=True, capture_output=True, text=True).stdout
    decoder = json.JSONDecoder()
    dirs: dict[str, str] = {}
    index = 0
    while index < len(out):
        if out[index].isspace():
            index += 1
            continue
        info, index = decoder.raw_decode(out, index)
        if info.get("Error"):
            raise SystemExit(f"cannot download {info['Path']}: {info['Error']}")
        dirs[info["Path"]] = info["Dir"]
    return dirs


def crd_files() -> list[Path]:
    dirs = module_dirs(REPO / "tools" / "go" / "crds", list(CRD_SOURCES))
    return [Path(dirs[module]) / rel for module, paths in CRD_SOURCES.items() for rel in paths]


def sveltos_crd_files() -> list[Path]:
    dirs = module_dirs(REPO / "tools" / "go" / "sveltos", list(SVELTOS_CRD_MODULES))
    return sorted(path for module in SVELTOS_CRD_MODULES
                  for path in (Path(dirs[module]) / "config" / "crd" / "bases").glob("*.yaml"))


def install_crds(files: list[Path] | None = None) -> None:
    import yaml
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    api_client = config.new_client_from_config(str(KUBECONFIG))
    ext = client.ApiextensionsV1Api(api_client)
    names = []
    for path in files if files is not None else crd_files():
        crd = yaml.safe_load(path.read_text())
        # No conversion webhook runs here: every served version converts with None.
        crd["spec"]["conversion"] = {"strategy": "None"}
        crd.get("metadata", {}).pop("annotations", None)
        name = crd["metadata"]["name"]
        names.append(name)
        try:
            ext.create_custom_resource_definition(crd)
        except ApiException as err:
            if err.status != 409:
                raise
            current = ext.read_custom_resource_definition(name)
            crd["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(name, crd)
    deadline = time.monotonic() + 60
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            conditions = ext.read_custom_resource_definition(name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                pending.discard(name)
        if pending:
            time.sleep(0.2)
    if pending:
        raise SystemExit(f"CRDs not Established after 60 s: {sorted(pending)}")
    log(f"{len(names)} CRDs Established: {', '.join(sorted(names))}")


def apiserver_command(pki: Path, port: int, etcd_port: int, issuer: str, etcd_prefix: str | None = None) -> list[str]:
    """kube-apiserver on loopback with the certificates in ``pki``, RBAC, and TokenRequest
    (``issuer`` and the service-account key pair in ``pki``); ``etcd_prefix`` keeps a workload
    cluster's objects apart from the management cluster's (``/registry``)."""
    return [
        tool("kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        *([f"--etcd-prefix={etcd_prefix}"] if etcd_prefix else []),
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
        f"--cert-dir={pki}", f"--tls-cert-file={pki / 'server.crt'}",
        f"--tls-private-key-file={pki / 'server.key'}", f"--client-ca-file={pki / 'ca.crt'}",
        f"--service-account-issuer={issuer}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-cluster-ip-range=10.96.0.0/24",
        "--authorization-mode=RBAC",
        "--enable-priority-and-fairness=false",
        "--disable-admission-plugins=ServiceAccount",
        "--v=0",
    ]


def workload_pki(data: Path, name: str) -> Path:
    pki = data / name / "pki"
    make_certs(pki, ca_name=f"cluster-inventory-{name}-ca", admin_subject=WORKLOAD_ADMIN_SUBJECT)
    return pki


def make_workload_pkis(data: Path, names: list[str]) -> dict[str, Path]:
    """Each workload cluster's certificates and keys, made in parallel (openssl, a few processes each)."""
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return dict(zip(names, pool.map(lambda name: workload_pki(data, name), names), strict=True))


def empty_etcd_prefix(etcd_port: int, prefix: str) -> None:
    """Delete every key under ``prefix`` + "/" (etcd's v3 JSON gateway): a workload cluster
    started again begins empty, with nothing left from its previous life."""
    import base64
    import urllib.request

    start = f"{prefix}/".encode()
    range_end = start[:-1] + bytes([start[-1] + 1])
    body = json.dumps({"key": base64.b64encode(start).decode(), "range_end": base64.b64encode(range_end).decode()})
    request = urllib.request.Request(f"http://127.0.0.1:{etcd_port}/v3/kv/deleterange", data=body.encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def start_workloads(state: dict[str, Any], indexes: list[int]) -> list[tuple[dict[str, Any], Launched]]:
    """Spawn the workload API servers ``indexes`` (recorded in ``state`` at once, so `down`
    stops them even if this start fails half-way); the caller waits for them."""
    data = Path(state["data"])
    names = [WORKLOAD_NAME.format(index=index) for index in indexes]
    pkis = make_workload_pkis(data, names)
    started = []
    for name, port in zip(names, free_ports(len(names)), strict=True):
        prefix = f"/{name}"
        empty_etcd_prefix(state["etcd_port"], prefix)
        process = spawn(apiserver_command(pkis[name], port, state["etcd_port"], f"https://{name}.cluster-inventory.test",
                                          prefix), data / name / "kube-apiserver.log")
        entry = {"name": name, "port": port, "pki": str(pkis[name]), "pid": process.pid, "etcd_prefix": prefix,
                 "kubeconfig": str(WORKLOAD_KUBECONFIGS / f"{name}.kubeconfig")}
        state["workloads"] = [w for w in state.get("workloads", []) if w["name"] != name] + [entry]
        state["pids"] = [*state["pids"], process.pid]
        STATE.write_text(json.dumps(state))
        started.append((entry, process))
    return started


def controller_manager_command(kubeconfig: Path) -> list[str]:
    """Garbage collection and namespace deletion, as on a real cluster: without them foreground
    deletes and namespace deletes never finish."""
    return [tool("kube-controller-manager"), f"--kubeconfig={kubeconfig}",
            "--controllers=garbagecollector,namespace", "--leader-elect=false",
            "--use-service-account-credentials=false", "--secure-port=0", "--v=0"]


def wait_for_workloads(started: list[tuple[dict[str, Any], Launched]]) -> None:
    for entry, process in started:
        pki = Path(entry["pki"])
        wait_for(lambda port=entry["port"], pki=pki: healthy(port, pki), f"kube-apiserver {entry['name']}", [process])
        write_kubeconfig(pki, entry["port"], Path(entry["kubeconfig"]), entry["name"])
        # Its own namespace and garbage controllers, so that a namespace deleted there goes.
        kcm = spawn(controller_manager_command(Path(entry["kubeconfig"])),
                    pki.parent / "kube-controller-manager.log")
        state = load_state() or {}
        for workload in state.get("workloads", []):
            if workload["name"] == entry["name"]:
                workload["controller_pid"] = kcm.pid
        state["pids"] = [*state.get("pids", []), kcm.pid]
        STATE.write_text(json.dumps(state))
        log(f"workload cluster {entry['name']} ready on https://127.0.0.1:{entry['port']} "
            f"(etcd prefix {entry['etcd_prefix']}, kubeconfig {entry['kubeconfig']})")


def running_workloads(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in state.get("workloads", []) if alive(w["pid"], "kube-apiserver")
            and healthy(w["port"], Path(w["pki"]))]


def workloads_up(count: int) -> None:
    """workload-1..``count`` on the running control plane: the ones not running are started."""
    state = load_state()
    if not state:
        sys.exit("the control plane is not running: run `python tools/cluster.py up --workloads N`")
    running = {w["name"] for w in running_workloads(state)}
    missing = [index for index in range(1, count + 1) if WORKLOAD_NAME.format(index=index) not in running]
    stale = [w for w in state.get("workloads", []) if w["name"] not in running]
    if stale:
        stale_pids = {pid for w in stale for pid in (w["pid"], w.get("controller_pid")) if pid}
        stop(sorted(stale_pids))
        state["pids"] = [pid for pid in state["pids"] if pid not in stale_pids]
        state["workloads"] = [w for w in state["workloads"] if w["name"] in running]
        STATE.write_text(json.dumps(state))
    if missing:
        wait_for_workloads(start_workloads(state, missing))
    elif count:
        log(f"workload clusters already running: {', '.join(sorted(running))}")


def workloads_down() -> None:
    state = load_state()
    if not state or not state.get("workloads"):
        return
    pids = [pid for w in state["workloads"] for pid in (w["pid"], w.get("controller_pid")) if pid]
    stop(pids)
    state["pids"] = [pid for pid in state["pids"] if pid not in pids]
    state["workloads"] = []
    STATE.write_text(json.dumps(state))
    shutil.rmtree(WORKLOAD_KUBECONFIGS, ignore_errors=True)
    log("workload clusters stopped")


def up(sveltos: bool = False, workloads: int = 0) -> None:
    state = load_state()
    # A workload server that stopped is started again by workloads_up; the management cluster stays.
    workload_pids = {w["pid"] for w in state.get("workloads", [])} if state else set()
    if (state and all(alive(pid) for pid in state["pids"] if pid not in workload_pids)
            and healthy(state["port"], Path(state["pki"]))):
        log(f"already running on https://127.0.0.1:{state['port']}")
        install_crds()
        if workloads:
            workloads_up(workloads)
        if sveltos:
            sveltos_up()
        print(KUBECONFIG)
        return
    if state:
        down()
    LOCAL.mkdir(exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="cluster-inventory-"))
    pki = data / "pki"
    make_certs(pki)
    etcd_port, peer_port, port = free_ports(3)
    etcd = spawn([
        tool("etcd"), "--name", "local", "--data-dir", str(data / "etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-cluster", f"local=http://127.0.0.1:{peer_port}",
        "--unsafe-no-fsync", "--log-level", "warn",
    ], data / "etcd.log")
    state = {"pids": [etcd.pid], "port": port, "etcd_port": etcd_port, "data": str(data), "pki": str(pki),
             "workloads": []}
    STATE.write_text(json.dumps(state))
    wait_for(lambda: etcd_healthy(etcd_port), "etcd", [etcd])
    api = spawn(apiserver_command(pki, port, etcd_port, MGMT_ISSUER), data / "kube-apiserver.log")
    state["pids"] = [etcd.pid, api.pid]
    STATE.write_text(json.dumps(state))
    # The workload servers start now, beside the management server, and are waited for last.
    workload_servers = start_workloads(state, list(range(1, workloads + 1))) if workloads else []
    write_kubeconfig(pki, port)
    wait_for(lambda: healthy(port, pki), "kube-apiserver", [etcd, api])
    log(f"kube-apiserver ready on https://127.0.0.1:{port}")
    kcm = spawn(controller_manager_command(KUBECONFIG), data / "kube-controller-manager.log")
    state["pids"] = [*state["pids"], kcm.pid]
    STATE.write_text(json.dumps(state))
    time.sleep(0.5)
    if not alive(kcm.pid, kcm.program):
        raise exited(kcm, "kube-controller-manager")
    install_crds()
    wait_for_workloads(workload_servers)
    if sveltos:
        sveltos_up()
    print(KUBECONFIG)


def apply_object(api_client: Any, body: dict[str, Any]) -> None:
    """Create or update (server-side apply, field manager cluster-py) one object."""
    from kubernetes import dynamic

    resource = dynamic.DynamicClient(api_client).resources.get(api_version=body["apiVersion"], kind=body["kind"])
    resource.server_side_apply(body=body, field_manager="cluster-py", force_conflicts=True,
                               namespace=body["metadata"].get("namespace"))


def register_management_cluster() -> None:
    """What sveltoscluster-manager and a Sveltos install would leave: the namespaces, the
    management cluster as SveltosCluster mgmt/mgmt (labelled for managementClusterSelector,
    its kubeconfig Secret, status.ready)."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(KUBECONFIG))
    for name in (SVELTOS_NAMESPACE, MGMT_NAMESPACE):
        apply_object(api_client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    secret = f"{MGMT_CLUSTER}-sveltos-kubeconfig"
    apply_object(api_client, {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": secret, "namespace": MGMT_NAMESPACE},
        "stringData": {"kubeconfig": KUBECONFIG.read_text()},
    })
    apply_object(api_client, {
        "apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "SveltosCluster",
        "metadata": {"name": MGMT_CLUSTER, "namespace": MGMT_NAMESPACE, "labels": MGMT_CLUSTER_LABELS},
        "spec": {"kubeconfigName": secret, "kubeconfigKeyName": "kubeconfig"},
    })
    custom = client.CustomObjectsApi(api_client)
    status = {"status": {"ready": True, "connectionStatus": "Healthy"}}
    custom.patch_namespaced_custom_object_status(
        "lib.projectsveltos.io", "v1beta1", MGMT_NAMESPACE, "sveltosclusters", MGMT_CLUSTER, status)
    log(f"management cluster registered as SveltosCluster {MGMT_NAMESPACE}/{MGMT_CLUSTER} {MGMT_CLUSTER_LABELS}")


def health_ok(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def sveltos_up() -> None:
    """Sveltos CRDs, the management cluster's registration, and the three processes."""
    state = load_state()
    if not state:
        sys.exit("the control plane is not running: run `python tools/cluster.py up --sveltos`")
    running = state.get("sveltos_pids", [])
    if running and all(alive(pid) for pid in running):
        log("Sveltos already running")
        return
    sveltos_down()
    state = load_state() or state
    install_crds(sveltos_crd_files())
    register_management_cluster()
    data = Path(state["data"])
    em_health, em_webhook, ac_health, ac_webhook = free_ports(4)
    common = [f"--kubeconfig={KUBECONFIG}", f"--version={SVELTOS_VERSION}", "--agent-in-mgmt-cluster=true",
              "--diagnostics-address=0"]
    commands = {
        "event-manager": [tool("event-manager"), *common, f"--health-addr=127.0.0.1:{em_health}",
                          f"--webhook-port={em_webhook}"],
        "addon-controller": [tool("addon-controller"), *common, f"--health-addr=127.0.0.1:{ac_health}",
                             f"--webhook-port={ac_webhook}", "--report-mode=0", "--disable-telemetry"],
        "eventreporter": [tool("eventreporter"), f"--kubeconfig={KUBECONFIG}", "--layout=mgmt",
                          f"--cluster-namespace={MGMT_NAMESPACE}", f"--cluster-name={MGMT_CLUSTER}",
                          f"--version={SVELTOS_VERSION}", "--interval=1s"],
    }
    control_plane = list(state["pids"])
    started: list[Launched] = []
    for name, args in commands.items():
        started.append(spawn(args, data / f"{name}.log"))
        pids = [process.pid for process in started]
        # Recorded at once, so `down` stops them even if this start fails half-way.
        state["sveltos_pids"], state["pids"] = pids, control_plane + pids
        STATE.write_text(json.dumps(state))
    wait_for(lambda: health_ok(em_health) and health_ok(ac_health), "Sveltos controllers", started)
    time.sleep(1)
    for process in started:
        if not alive(process.pid, process.program):
            raise exited(process, process.log.stem)
    log(f"event-manager, addon-controller and eventreporter running (logs in {data})")


def sveltos_down() -> None:
    state = load_state()
    if not state or not state.get("sveltos_pids"):
        return
    stop(state["sveltos_pids"])
    state["pids"] = [pid for pid in state["pids"] if pid not in state["sveltos_pids"]]
    state["sveltos_pids"] = []
    STATE.write_text(json.dumps(state))
    log("Sveltos stopped")


def stop(pids: list[int]) -> None:
    """Stop the processes in the reverse of their start order, each before the next: etcd goes
    last, so kube-apiserver can finish its shutdown (with etcd gone it waits out the timeout)."""
    for pid in reversed(pids):
        if not alive(pid):
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            continue
        deadline = time.monotonic() + 20
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def down() -> None:
    state = load_state()
    if not state:
        log("not running")
        return
    stop(state["pids"])
    shutil.rmtree(state["data"], ignore_errors=True)
    STATE.unlink(missing_ok=True)
    KUBECONFIG.unlink(missing_ok=True)
    shutil.rmtree(WORKLOAD_KUBECONFIGS, ignore_errors=True)
    log("stopped")


def status() -> None:
    """Running when the management cluster runs (a stopped workload server is `workloads-up`'s to restart)."""
    state = load_state()
    workload_pids = {w["pid"] for w in state.get("workloads", [])} if state else set()
    running = bool(state) and all(alive(pid) for pid in state["pids"] if pid not in workload_pids)  # type: ignore[index]
    print("running" if running else "stopped")
    sys.exit(0 if running else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "sveltos-up", "sveltos-down",
                                            "workloads-up", "workloads-down"])
    parser.add_argument("count", nargs="?", type=int, default=2, help="with workloads-up: how many (default 2)")
    parser.add_argument("--sveltos", action="store_true", help="with up: also run Sveltos (see above)")
    parser.add_argument("--workloads", type=int, default=0, metavar="N",
                        help="with up: also start workload clusters workload-1..N (see above)")
    args = parser.parse_args()
    if args.command == "up":
        up(sveltos=args.sveltos, workloads=args.workloads)
    elif args.command == "workloads-up":
        workloads_up(args.count)
    elif args.command == "workloads-down":
        workloads_down()
    else:
        {"down": down, "status": status, "sveltos-up": sveltos_up, "sveltos-down": sveltos_down}[args.command]()


if __name__ == "__main__":
    main()
