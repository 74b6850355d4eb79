"""Indexing and answering open no network connection: every non-loopback socket is refused."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from corpus_tools import SEEDS

from rag.config import load_settings
from rag.index.build import build_index
from rag.index.reader import open_index
from rag.query.answering import ask

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)


class NetworkBlocked(AssertionError):
    pass


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str) or host.startswith("/"):
        return True  # unix socket path
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture
def no_network(monkeypatch):
    attempts = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(method):
        def wrapper(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
                attempts.append(address)
                raise NetworkBlocked(f"network connection attempted to {address}")
            return method(self, address)
        return wrapper

    def no_dns(*args, **kwargs):
        host = args[0] if args else kwargs.get("host")
        if host and not _is_loopback((host,)):
            attempts.append(("dns", host))
            raise NetworkBlocked(f"DNS lookup attempted for {host}")
        return real_getaddrinfo(*args, **kwargs)

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", guard(real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guard(real_connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    yield attempts


def test_the_guard_really_blocks(no_network):
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    assert no_network


def test_index_and_answer_without_network(tmp_path, no_network, monkeypatch):
    import rag.embed.torch_encoder

    monkeypatch.setattr(rag.embed.torch_encoder, "_MODELS", {})  # load the model itself under the guard too
    settings = load_settings(index_dir=tmp_path / "index")
    build_index(settings, [SEEDS])
    answer = ask(open_index(settings), "Which generals are negotiating the peace?")
    assert answer.citations and not answer.abstained
    assert no_network == []
