"""Connecting to a Dask scheduler: bounded, interruptible, and clear about what answered.

The peers are plain sockets on 127.0.0.1 started here (one that accepts and never answers, one that
sends an SSH banner and waits), a LocalCluster in this process speaking TLS with the certificates
in tests/tls (a test CA, and one certificate and key signed by it for every role; made with
``openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 ...``, valid for 100 years),
and the real command line, in a subprocess where it might hang or where a signal is sent to it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import distributed
import numpy as np
import pytest

import backprop
from backprop.distributed import DistributedError, connect
from backprop.distributed import cluster as dask_cluster
from backprop.distributed.cluster import LOOPBACK_HTTP
from backprop.errors import InvalidInputError
from clitools import one_error_line, run_cli

TLS = Path(__file__).parent / "tls"
TIMEOUT = 60  # seconds: the bound of every wait here (a subprocess, a thread, a cluster)


class Listener:
    """A TCP listener on 127.0.0.1 that accepts, sends ``banner`` (if any) and then says nothing."""

    def __init__(self, banner=b""):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.banner, self.conns, self.accepted = banner, [], threading.Semaphore(0)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"tcp://127.0.0.1:{self.port}"

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the 0.2 s tick
                continue
            self.conns.append(conn)
            if self.banner:
                conn.sendall(self.banner)
            self.accepted.release()

    def close(self):
        self._stop.set()
        self._thread.join(TIMEOUT)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def silent():
    lst = Listener()
    yield lst
    lst.close()


def _bounded(fn, seconds=TIMEOUT):
    """fn() in a thread; its exception, or a failure if it does not end within ``seconds``."""
    box = {}

    def run():
        try:
            fn()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still waiting after {seconds} s"
    return box.get("error")


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    src = str(Path(backprop.__file__).resolve().parents[1])  # this backprop, in the subprocess too
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def _cli(*args):
    return [sys.executable, "-m", "backprop", "train", "xor", "--epochs", "1", "-q", *map(str, args)]


# -- a peer that accepts and never answers --------------------------------------------------------------
def test_connect_to_a_peer_that_never_answers_ends_within_the_timeout(silent):
    def attempt():
        with connect(silent.address, timeout=0.5):
            pass

    error = _bounded(attempt)
    assert isinstance(error, DistributedError), error
    assert "does not answer as a Dask scheduler" in str(error) and "handshake within 0.5 s" in str(error)


def test_train_against_a_silent_peer_exits_2_after_dask_timeout(silent, tmp_path):
    p = subprocess.run(_cli("--dask", silent.address, "--dask-timeout", "1"), cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 2, p.stderr
    line = one_error_line(p.stderr)
    assert f"{silent.address} does not answer as a Dask scheduler" in line and "within 1 s" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_connecting_ends_the_command_at_once(silent, tmp_path, sig, status):
    # the default bound (10 s) would end it with status 2: a swallowed signal cannot pass this test
    proc = subprocess.Popen(_cli("--dask", silent.address), cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # the second connection is the handshake: the command is waiting for an answer now
        assert silent.accepted.acquire(timeout=TIMEOUT) and silent.accepted.acquire(timeout=TIMEOUT)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
    assert proc.returncode == status, err
    line = one_error_line(err)
    assert "interrupted while connecting" in line and signal.Signals(sig).name in line
    assert list(tmp_path.iterdir()) == []


def test_the_default_bound_is_documented():
    from backprop.cli.cluster import DEFAULT_TIMEOUT

    assert DEFAULT_TIMEOUT == dask_cluster.CONNECT_TIMEOUT
    doc = (Path(__file__).parents[1] / "docs" / "distributed.md").read_text()
    assert "--dask-timeout" in doc and f"default {DEFAULT_TIMEOUT:g} s" in doc


# -- not a Dask scheduler, bad addresses --------------------------------------------------------------------
def test_a_peer_that_sends_an_ssh_banner_is_not_a_dask_scheduler(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ssh = Listener(b"SSH-2.0-OpenSSH_9.6\r\n")
    try:
        status, _, err = run_cli(["train", "xor", "--epochs", "1", "-q", "--dask", ssh.address,
                                  "--dask-timeout", "5"], capsys)
    finally:
        ssh.close()
    assert status == 2
    line = one_error_line(err)
    assert f"{ssh.address} does not answer as a Dask scheduler" in line and "memory" not in line.split(":")[1]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--dask", ""], "the Dask cluster is empty"),
    (["--dask", "   "], "the Dask cluster is empty"),
    (["--dask", "tcp://..:1"], "'..' is not a host name or IP address"),
    (["--dask", "tcp://" + "a" * 300 + ":1"], "is not a host name or IP address"),
    (["--dask", "tcp://a..b:8786"], "is not a host name"),
    (["--dask", "tcp://[::zz]:8786"], "is not an IPv6 address"),
    (["--dask", "udp://127.0.0.1:8786"], "the protocol udp:// is not supported"),
    (["--dask", "tls://127.0.0.1:1"], "a tls:// scheduler needs the cluster's CA certificate"),
    (["--dask", "tls://127.0.0.1:1", "--dask-tls-ca-file", TLS / "ca.pem", "--dask-tls-cert", "nothing.pem"],
     "the TLS certificate 'nothing.pem' is not a readable file"),
    (["--dask", "tls://127.0.0.1:1", "--dask-tls-ca-file", TLS / "key.pem", "--dask-tls-cert",
      TLS / "cert.pem"], "the TLS files cannot be used"),
    (["--dask", "tcp://127.0.0.1:1", "--dask-tls-cert", TLS / "cert.pem"], "need a tls:// scheduler address"),
    (["--dask-timeout", "5"], "--dask-timeout can only be used with --dask"),
    (["--dask", "local:1", "--dask-timeout", "0"], "--dask-timeout must be a positive number"),
    (["--dask", "local:1", "--dask-timeout", "nan"], "--dask-timeout must be a positive number"),
    (["--dask", "local:1", "--dask-timeout", "1e308"], "--dask-timeout must be a positive number"),
    (["--dask", "tcp://127.0.0.1:0"], "port 0 is not in 1..65535"),
    (["--dask", "tcp://user@127.0.0.1:8786"], "is not a host name"),
])
def test_bad_cluster_options_are_refused_before_anything_runs(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(["train", "xor", "--epochs", "1", "-q", *args], capsys)
    assert status == 2 and message in one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_connect_refuses_a_tls_address_without_a_tls_context():
    with pytest.raises(InvalidInputError, match="CA certificate"), connect("tls://127.0.0.1:1", timeout=1):
        pass


# -- TLS, with a scheduler that speaks it -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_cluster():
    pem = {k: str(TLS / f) for k, f in (("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem"))}
    security = distributed.Security(
        tls_ca_file=pem["ca"], require_encryption=True,
        **{f"tls_{role}_{part}": pem[part] for role in ("scheduler", "worker", "client")
           for part in ("cert", "key")})
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://",
                                       host="127.0.0.1", security=security, dashboard_address=None,
                                       scheduler_kwargs=LOOPBACK_HTTP, silence_logs=logging.ERROR)
    yield cluster
    cluster.close(timeout=TIMEOUT)


def test_train_on_a_tls_scheduler_with_the_clusters_certificates(tls_cluster, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    address = tls_cluster.scheduler_address
    assert address.startswith("tls://127.0.0.1:")
    args = ["train", "moons", "--layers", "5", "--epochs", "2", "-q", "--seed", "3", "--dtype", "float64"]
    tls = ["--dask-tls-ca-file", TLS / "ca.pem", "--dask-tls-cert", TLS / "cert.pem",
           "--dask-tls-key", TLS / "key.pem"]
    status, _, err = run_cli([*args, "--dask", address, *tls, "--out", "tls.st"], capsys)
    assert status == 0, err
    assert run_cli([*args, "--out", "here.st"], capsys)[0] == 0
    a, b = backprop.load(tmp_path / "tls.st"), backprop.load(tmp_path / "here.st")
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)  # the same updates, sums in another order

    # the same scheduler over plain TCP: TLS is not Dask's plain protocol
    plain = address.replace("tls://", "tcp://")
    status, _, err = run_cli([*args, "--dask", plain, "--dask-timeout", "5", "--out", "x.st"], capsys)
    assert status == 2 and f"{plain} does not answer as a Dask scheduler" in one_error_line(err)


def test_a_workers_address_is_not_a_schedulers(tls_cluster):
    worker = next(iter(tls_cluster.scheduler.workers))
    security = dask_cluster.tls_security(str(TLS / "ca.pem"), str(TLS / "cert.pem"), str(TLS / "key.pem"))
    with pytest.raises(DistributedError, match="answered as a Dask Worker, not a scheduler"), \
            connect(worker, security=security, timeout=5):
        pass
