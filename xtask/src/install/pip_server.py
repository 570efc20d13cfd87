# pip download, served: pip is imported once and every job runs in a fork of this process, so a
# build with many dependency sets pays for Python's start and pip's import (~0.45 s of CPU) once.
# Protocol, one line each way: the first line out is "ready" or "error <why>"; then each line
# in is a JSON job {"id": n, "argv": [args after `pip`], "out": path, "err": path} and each line
# out is "<id> <exit code>" ("<id> -<signal>" when a signal killed it). EOF in: the xtask is
# done (no job running) or dead (its running jobs are killed); exit.
# No threads: a fork taken while another thread holds a lock (stdout, logging) would deadlock.
import sys

# As `python -m pip` does: nothing is imported from the working directory (`-c` puts it first).
if sys.path and sys.path[0] == "":
    del sys.path[0]

import json
import os
import select
import signal
import traceback

try:
    from pip._internal.cli.main import main as pip_main
    from pip._internal.commands import create_command

    create_command("download")
except BaseException as e:  # noqa: BLE001 - any failure means: run pip the usual way
    os.write(1, ("error cannot import pip: %r\n" % (e,)).encode())
    sys.exit(0)

# Imported lazily by the download command: imported here, once, rather than in every fork.
# Names differ between pip versions; a missing one only costs its import in each job.
for name in [
    "pip._internal.cli.req_command",
    "pip._internal.index.package_finder",
    "pip._internal.locations",
    "pip._internal.models.target_python",
    "pip._internal.network.download",
    "pip._internal.network.session",
    "pip._internal.operations.prepare",
    "pip._internal.req.constructors",
    "pip._internal.req.req_file",
    "pip._internal.resolution.resolvelib.resolver",
    "pip._internal.self_outdated_check",
    "pip._internal.utils.unpacking",
    "pip._internal.wheel_builder",
    "pip._vendor.packaging.tags",
    "pip._vendor.requests",
    "pip._vendor.rich.console",
    "pip._internal.metadata.importlib",
    "pip._internal.metadata.pkg_resources",
    "pip._vendor.distro",
    "importlib.metadata",
    "argparse",
    "encodings.cp437",
    "pip._internal.cli.autocompletion",
    "pip._internal.cli.main_parser",
    "pip._vendor.truststore",
]:
    try:
        __import__(name)
    except Exception:  # noqa: BLE001
        pass

# Read by every job that lists a find-links folder (file URLs get a guessed type).
try:
    import mimetypes

    mimetypes.init()
except Exception:  # noqa: BLE001
    pass

# pip's User-Agent header is the same for every job of this process (its environment): worked
# out once here, not per job, where it costs a tenth of each job's CPU (it reads the distro and
# the installed setuptools, and runs `rustc --version` when rustc is on PATH).
try:
    from pip._internal.network import session as _session

    _agent = _session.user_agent()
    _session.user_agent = lambda: _agent
except Exception:  # noqa: BLE001 - another pip: each job works it out itself
    pass


def run(job, wake_r, wake_w):
    """In the child: the job's pip run, its output in the job's files; never returns."""
    code = 2
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(wake_r)
        os.close(wake_w)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, job["out"]), (2, job["err"])):
            f = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
            os.dup2(f, fd)
            os.close(f)
        try:
            code = pip_main(job["argv"])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
            code = 2
    except BaseException:  # noqa: BLE001
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001
                pass
        os._exit(code if isinstance(code, int) and 0 <= code < 256 else 1)


def main():
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    # A handler must be installed for the wakeup fd to be written on SIGCHLD.
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    os.write(1, b"ready\n")
    running = {}  # pid -> job id
    pending = b""
    reading = True
    while reading or running:
        ready = select.select([0, wake_r] if reading else [wake_r], [], [])[0]
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        if 0 in ready:
            chunk = os.read(0, 65536)
            if not chunk:
                reading = False
                # The xtask closes stdin only when no job of its is running: with jobs still
                # running, it has died (killed outright) and nobody wants their results.
                for pid in running:
                    os.kill(pid, signal.SIGKILL)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                try:
                    job = json.loads(line)
                    ident = int(job["id"])
                except Exception:  # noqa: BLE001
                    os.write(1, b"error bad job line\n")
                    continue
                pid = os.fork()
                if pid == 0:
                    run(job, wake_r, wake_w)
                running[pid] = ident
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            ident = running.pop(pid, None)
            if ident is None:
                continue
            if os.WIFSIGNALED(status):
                code = -os.WTERMSIG(status)
            else:
                code = os.WEXITSTATUS(status)
            try:
                os.write(1, b"%d %d\n" % (ident, code))
            except OSError:  # the xtask is gone
                pass


main()
