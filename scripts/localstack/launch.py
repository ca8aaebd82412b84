"""Starts LocalStack on the host (no Docker) under Python 3.11.

localstack-core 4.13.1 annotates `install_lock: Lock | None` in localstack/packages/api.py.
On Python < 3.13 `threading.Lock` is a factory function, so that annotation raises TypeError at
import time and every service that imports `localstack.packages` (DynamoDB, Lambda, ...) fails
to load. Make `threading.Lock` a class whose instances are the ordinary C locks; nothing in
3.11 code can rely on it being a function (`isinstance(x, threading.Lock)` raised before).
"""

import _thread
import runpy
import sys
import threading

if sys.version_info < (3, 13) and not isinstance(threading.Lock, type):

    class _Lock:
        def __new__(cls, *args, **kwargs):
            return _thread.allocate_lock()

    threading.Lock = _Lock  # type: ignore[misc, assignment]

runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
