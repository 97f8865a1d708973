"""A command for ``tests/test_prewarmed.py``: prints what a process sees of its start (arguments,
folder, an environment variable, standard input, its import path's first entry), then ends as its
arguments say: ``exit N``, ``raise MESSAGE``, ``sleep S`` (then writes ``$PROBE_DIR/slept``); a
non-daemon thread and an ``atexit`` handler write the last lines."""

import atexit
import os
import sys
import threading
import time

if __name__ == "__main__":
    print("argv", sys.argv[1:], os.path.basename(sys.argv[0]))
    print("cwd", os.getcwd(), sys.path[0] == os.getcwd())
    print("env", os.environ.get("PROBE_VALUE"), "PROBE_UNSET" in os.environ)
    print("stdin", repr(sys.stdin.read()))
    print("parent", os.getppid())
    atexit.register(lambda: print("atexit", file=sys.stderr))
    threading.Thread(target=lambda: (time.sleep(0.2), print("thread done", flush=True))).start()
    what, value = sys.argv[1], sys.argv[2]
    if what == "sleep":
        sys.stdout.flush()  # what a killed command printed before is on record
        time.sleep(float(value))
        open(os.path.join(os.environ["PROBE_DIR"], "slept"), "w").close()
    elif what == "raise":
        raise RuntimeError(value)
    sys.exit(int(value) if what == "exit" else 0)
