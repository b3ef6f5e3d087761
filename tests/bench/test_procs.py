"""bench.procs: the port picker that the benchmark and the tests share."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench import procs
from bench.procs import free_port, port_slice


def test_each_worker_has_its_own_slice_below_the_ephemeral_range() -> None:
    low = procs._ephemeral_low()
    slices = [port_slice(f"gw{number}") for number in range(8)]
    assert all(ports.start >= procs.PORT_LOW and ports.stop <= low for ports in slices)
    assert all(set(a).isdisjoint(b) for n, a in enumerate(slices) for b in slices[n + 1 :])
    assert port_slice("") == port_slice("gw0")


def test_a_picked_port_is_in_the_workers_slice_and_can_be_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    port = free_port()
    assert port in port_slice("gw3")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_taken_port_is_never_picked_and_the_error_names_the_range(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # a port of the test's own, so no other test can hold it
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(procs, "port_slice", lambda worker: range(port, port + 1))
        with pytest.raises(RuntimeError, match=f"no free loopback port in {port}-{port} after 100 tries"):
            free_port()


def test_an_unreadable_ephemeral_range_falls_back_to_linuxs_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(procs, "EPHEMERAL_RANGE", tmp_path / "missing")
    assert procs._ephemeral_low() == 32_768
