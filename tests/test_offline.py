"""The embedded default works with every non-loopback connection refused."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from bot.answer import KnowledgeBot
from tests.conftest import make_settings


class NetworkBlocked(OSError):
    pass


def _is_loopback(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # type: ignore[arg-type]
    except ValueError:
        return False  # a host name that is not localhost would need DNS: refuse it


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[object]:
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            attempts.append(address)
            raise NetworkBlocked(f"network access to {address!r} refused by the test")
        real_connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            attempts.append(address)
            return 111
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if not _is_loopback(host):
            attempts.append(host)
            raise socket.gaierror(f"DNS lookup of {host!r} refused by the test")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    # An empty tiktoken cache: the BPE files must come from the installed package, not a download.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    from bot.runtime.tokens import get_encoding

    get_encoding.cache_clear()
    return attempts


def test_ingest_and_answer_work_with_the_network_cut_off(
    no_network: list[object], tmp_path: Path
) -> None:
    import tiktoken

    bot = KnowledgeBot(make_settings(tmp_path / "data"))
    assert bot.ensure_index() is True
    answer = bot.answer("What are the objectives of an IT strategy?")
    assert not answer.abstained and answer.citations
    assert answer.citations[0].source.startswith("corpus/")
    # both encodings load from the seeded cache; tiktoken itself verified their sha256
    assert len(tiktoken.get_encoding("o200k_base").encode("hello world")) == 2
    assert len(tiktoken.get_encoding("cl100k_base").encode("hello world")) == 2
    assert (tmp_path / "tiktoken-cache").is_dir()
    assert no_network == []  # nothing even tried to reach the internet


def test_the_guard_really_refuses_outside_connections(no_network: list[object]) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("203.0.113.1", 443), timeout=1)
    assert no_network
