# Imports one Lambda handler the way the python3.x runtime does, without invoking it.
# Run as `python -I -S -c <this> TASK OPT RUNTIME HANDLER TIMEOUT RESULT MINOR`; writes RESULT
# (JSON). On a timeout, faulthandler writes every thread's stack to RESULT.timeout and exits.
import faulthandler
import importlib
import json
import os
import sys
import traceback


def main():
    task, opt, runtime, handler, timeout, result, minor = sys.argv[1:8]
    # What the import prints (and any process it starts) goes to a file, not to our pipes.
    log = os.open(result + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    watchdog = open(result + ".timeout", "w")
    faulthandler.dump_traceback_later(float(timeout), exit=True, file=watchdog)
    # -I -S leaves only the standard library on sys.path; Lambda puts the function and its
    # layers before it and the runtime's bundled packages (boto3) after it.
    stdlib = [p for p in sys.path if p]
    # OPT is one merged /opt, or (layers that share no top-level name) one directory per
    # layer, last attached first: the same lookups as the merge.
    opts = [o for o in reversed(opt.split("\n")) if o]
    sys.path[:] = [
        task,
        *(os.path.join(o, "python", "lib", "python" + minor, "site-packages") for o in opts),
        *(os.path.join(o, "python") for o in opts),
        *stdlib,
        *([runtime] if runtime else []),
    ]
    os.chdir(task)
    module_name, _, attr = handler.rpartition(".")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
        found = getattr(module, attr, None)
        if found is None or not callable(found):
            what = "no attribute" if found is None else "a non-callable attribute"
            out = {
                "status": "failed",
                "type": "HandlerNotFound",
                "message": f"module {module_name!r} has {what} {attr!r}",
                "frames": [[getattr(module, "__file__", None) or "", 0]],
            }
        else:
            out = {"status": "passed"}
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: Lambda reports them
        frames = traceback.extract_tb(e.__traceback__)
        out = {
            "status": "failed",
            "type": type(e).__name__,
            "message": str(e),
            "missing": getattr(e, "name", None) if isinstance(e, ImportError) else None,
            "frames": [[f.filename, f.lineno or 0] for f in frames],
        }
    faulthandler.cancel_dump_traceback_later()
    with open(result + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(result + ".tmp", result)
    # Skips atexit handlers and waits for threads the import started: neither runs in Lambda
    # before the first invocation, and either could hang here.
    os._exit(0)


main()
