"""The simulator's whole state in one JSON file, so that payments and idempotency keys survive a restart."""

import copy
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def empty_state() -> dict:
    return {"payments": {}, "idempotency": {}, "failNext": {"status": 503, "count": 0}}


class Store:
    """Readers use ``data`` without a lock; writers change a copy under the lock, write it, then swap it in.

    A published dict is never changed again, so a reader always sees one consistent state, and a change that
    raises half-way leaves neither the memory nor the file touched.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # Re-entrant: an idempotent request holds it around its whole check-run-store, and writes inside that.
        self.lock = threading.RLock()
        self.data = self._load()

    def _load(self) -> dict:
        try:
            loaded = json.loads(self.path.read_text())
        except FileNotFoundError:
            return empty_state()
        except json.JSONDecodeError as exc:
            raise RuntimeError(f"{self.path} is not a Mollie simulator state file: {exc}") from exc
        return {**empty_state(), **loaded}

    @contextmanager
    def change(self) -> Iterator[dict]:
        with self.lock:
            draft = copy.deepcopy(self.data)
            yield draft
            self._write(draft)
            self.data = draft

    def reset(self) -> None:
        with self.change() as state:
            state.clear()
            state.update(empty_state())

    def _write(self, state: dict) -> None:
        # Temp file in the same directory + os.replace: a crash leaves the old file or the new one, never half of one.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(state, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
