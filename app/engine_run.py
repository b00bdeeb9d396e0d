"""Launcher of an app-started training run: ``python -m noduleseg.app.engine_run RUN_FOLDER -- ARGS``.

Runs ``noduleseg-train ARGS`` in this process with stdout and stderr going to the run folder's
files, and writes its exit status there (atomically) however it ends, so an app that was
closed meanwhile still learns the result on its next start. SIGTERM (the panel's Cancel)
takes the engine's own interrupt path: it reports an ``error`` event, exits 130, and nothing
half written stays visible. No Qt here.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from noduleseg.core.atomic import write_text_atomic

from .retrain_runs import RunFolder


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _redirect(run: RunFolder) -> None:
    for path, fd in ((run.stdout, 1), (run.stderr, 2)):
        with open(path, "ab") as stream:
            os.dup2(stream.fileno(), fd)


def run_engine(run: RunFolder, engine_args: list[str]) -> int:
    """Run the engine with ``engine_args``; write and return its exit status."""
    status = 1
    try:
        from noduleseg.training.cli import main as engine_main

        status = engine_main(engine_args)
    except KeyboardInterrupt:  # a SIGTERM that arrived before the engine's own handler
        status = 130
    except SystemExit as exit_:  # argparse refusing a flag
        status = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        write_text_atomic(run.status_file, f"{status}\n")
    return status


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[1] != "--":
        print("usage: python -m noduleseg.app.engine_run RUN_FOLDER -- ENGINE_ARGS...", file=sys.stderr)
        return 2
    run = RunFolder(Path(argv[0]))
    _redirect(run)
    signal.signal(signal.SIGTERM, _interrupt)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the app that started it may close
    return run_engine(run, argv[2:])


if __name__ == "__main__":
    sys.exit(main())
