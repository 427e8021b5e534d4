"""A JupyterLab server for the browser tests, isolated from the developer's setup and the network.

:func:`jupyterlab` starts ``python -m jupyterlab`` (this interpreter's, so the kernel "python3" is the
same environment's) on 127.0.0.1, on a port the system picks, with a random token, serving a temporary
copy of a folder of notebooks. Every place Jupyter reads settings from or writes to is a temporary
folder (config, data, runtime, IPython, user settings, workspaces, HOME), so a developer's settings do
not leak in and nothing is written to the repository. Nothing reaches the network: the server never
fetches the news feed nor checks for a newer JupyterLab (``LabApp.news_url = None``,
``LabApp.check_for_updates_class = NeverCheckForUpdate``), its extension manager is the read-only
one (never asks PyPI), and the page is told the same in the
settings overrides (``@jupyterlab/apputils-extension:notification``: no news, no update check, no
toast asking about them). Every wait is bounded; at the end the process group is terminated, waited
for, and killed if it has not gone, and so is any kernel the server's shutdown left behind.

(The module is not called ``jupyterlab.py``: the tests folder is on ``sys.path`` and the name would
hide the real package.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

import backprop

START_S = 90  # bound of the wait for the server (a cold start on 2 busy cores takes ~10 s)
STOP_S = 15  # bound of the wait for it to end after SIGTERM, then SIGKILL

#: JupyterLab's page settings (``overrides.json`` in the app settings folder): no news feed, no
#: update check, no toasts over the notebook; every cell rendered (no windowing) so an output far down
#: a notebook is in the page without scrolling it into view
OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True,
    },
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}


@dataclasses.dataclass
class Lab:
    """A running JupyterLab: its base URL (ending in ``/``), token, notebook folder and log file."""

    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen

    def page(self, path: str) -> str:
        """The address of a JupyterLab page, e.g. ``lab/tree/x.ipynb``, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}token={self.token}"

    def api(self, path: str, timeout: float = 10.0):
        """GET a server API path (``api/status``) with the token; the decoded JSON."""
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def log_text(self, tail: int = 20_000) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return text[-tail:]


def source_tree() -> Path:
    """The folder that holds the ``backprop`` package under test (``src`` of a checkout)."""
    return Path(backprop.__file__).resolve().parents[1]


def _environment(home: Path) -> dict[str, str]:
    """The server's (and so the kernel's) environment: the developer's Jupyter variables dropped,
    every Jupyter folder temporary, the package under test first on the path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "IPYTHON", "XDG_", "PYTHONPATH"))}
    dirs = {
        "HOME": home, "JUPYTER_CONFIG_DIR": home / "config", "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime", "IPYTHONDIR": home / "ipython",
        "JUPYTERLAB_SETTINGS_DIR": home / "user-settings", "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces",
        "XDG_CONFIG_HOME": home / "xdg-config", "XDG_CACHE_HOME": home / "xdg-cache",
        "XDG_DATA_HOME": home / "xdg-data", "TMPDIR": home / "tmp",
    }
    for k, v in dirs.items():
        v.mkdir(parents=True, exist_ok=True)
        env[k] = str(v)
    # the kernel imports the tree under test (in CI it is also installed editable: same folder)
    extra = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(source_tree())] + ([extra] if extra else []))
    env["JUPYTER_PLATFORM_DIRS"] = "1"  # jupyter_core's future default, without its warning
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _write_config(home: Path, token: str, root: Path) -> Path:
    """The server's settings, in the temporary JUPYTER_CONFIG_DIR (the token stays off the command line);
    returns the app settings folder holding ``overrides.json``."""
    settings = home / "app-settings"
    settings.mkdir(exist_ok=True)
    (settings / "overrides.json").write_text(json.dumps(OVERRIDES, indent=1), encoding="utf-8")
    config = {
        "ServerApp": {
            "ip": "127.0.0.1", "port": 0, "port_retries": 0, "open_browser": False,
            "root_dir": str(root), "allow_remote_access": False, "terminals_enabled": False,
            "allow_root": os.geteuid() == 0,  # CI containers run as root
        },
        "IdentityProvider": {"token": token},
        "LabApp": {
            "news_url": None,
            "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "app_settings_dir": str(settings),
            "extension_manager": "readonly",  # lists what is installed; never asks PyPI
        },
    }
    path = home / "config" / "jupyter_server_config.json"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return settings


def _server_info(runtime: Path, pid: int) -> dict | None:
    """The server's own record of where it listens (``jpserver-<pid>.json``), once it is written."""
    for path in glob.glob(str(runtime / f"jpserver-{pid}.json")):
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # being written
            return None
    return None


def _wait_ready(lab_process: subprocess.Popen, runtime: Path, token: str, log: Path) -> str:
    """The base URL once ``GET api/status`` answers with the token, within START_S seconds."""
    deadline = time.monotonic() + START_S
    url = None
    while time.monotonic() < deadline:
        if lab_process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with status {lab_process.returncode} before it was "
                               f"ready; its log:\n{log.read_text(errors='replace')[-20_000:]}")
        info = _server_info(runtime, lab_process.pid)
        if info is not None:
            url = f"http://127.0.0.1:{info['port']}{info.get('base_url', '/')}"
            req = urllib.request.Request(url + "api/status", headers={"Authorization": f"token {token}"})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    json.loads(r.read())
                    return url
            except urllib.error.HTTPError as answer:  # not ready yet; the error holds a socket
                answer.close()
            except (urllib.error.URLError, OSError, ValueError):
                pass
        time.sleep(0.1)
    raise RuntimeError(f"JupyterLab was not ready within {START_S} s (last address: {url}); its log:\n"
                       f"{log.read_text(errors='replace')[-20_000:]}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, a bounded wait, then SIGKILL; its kernels (which
    jupyter_client starts in sessions of their own) are found first and ended the same way if the
    server's own shutdown left any."""
    try:
        kernels = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kernels = []
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_S)
    alive = [k for k in kernels if k.is_running()]
    for k in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            k.terminate()
    _, alive = psutil.wait_procs(alive, timeout=STOP_S)
    for k in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            k.kill()
    psutil.wait_procs(alive, timeout=STOP_S)


def missing() -> str | None:
    """Why JupyterLab with the widget front ends cannot run here, with what to install; None when it can."""
    absent = [name for name in ("jupyterlab", "ipywidgets", "anywidget")
              if importlib.util.find_spec(name) is None]
    if absent:
        return (f"the JupyterLab test needs {', '.join(absent)} in this environment: "
                "pip install -e '.[test]' (the test extra holds jupyterlab and the notebook extra)")
    return None


@contextlib.contextmanager
def jupyterlab(notebooks: Path, workdir: Path) -> Iterator[Lab]:
    """A JupyterLab serving a copy of ``notebooks`` (made under ``workdir``), stopped on exit."""
    root = workdir / "notebooks"
    shutil.copytree(notebooks, root)
    home = workdir / "home"
    token = secrets.token_hex(24)
    env = _environment(home)
    _write_config(home, token, root)
    log = workdir / "jupyterlab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab"], cwd=root, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        url = _wait_ready(process, home / "runtime", token, log)
        yield Lab(url=url, token=token, root=root, log=log, process=process)
    finally:
        _stop(process)
