"""The testing server itself: faults can be injected and cleared over HTTP, and it speaks the protocol."""

from __future__ import annotations

import httpx
import pytest

from aiwf.workers.llm.testing_server import ChatServer

CHAT = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}


def test_control_endpoint_injects_and_clears_faults(server: ChatServer) -> None:
    """POST /_control fail makes chat requests fail with that status; recover restores answers."""
    with httpx.Client(base_url=server.base_url.removesuffix("/v1")) as client:
        assert client.post("/_control", json={"action": "fail", "status": 502}).status_code == 200
        failed = client.post("/v1/chat/completions", json=CHAT)
        assert failed.status_code == 502
        assert failed.json()["error"]["type"] == "server_error"
        client.post("/_control", json={"action": "recover"})
        ok = client.post("/v1/chat/completions", json=CHAT)
        assert ok.status_code == 200
        assert ok.json()["choices"][0]["message"]["content"] == "echo: ping"
        assert client.post("/_control", json={"action": "explode"}).status_code == 400


def test_fault_with_times_clears_itself(server: ChatServer) -> None:
    """fail(times=1) fails exactly one request."""
    server.fail(503, times=1)
    with httpx.Client(base_url=server.base_url) as client:
        codes = [client.post("/chat/completions", json=CHAT).status_code for _ in range(2)]
    assert codes == [503, 200]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"model": "m", "messages": []}, 400), ({"model": "m"}, 400), ([1, 2], 400)],
)
def test_malformed_requests_get_400(server: ChatServer, body: object, status: int) -> None:
    """Requests without a usable message list are answered 400 with an OpenAI-style error."""
    with httpx.Client(base_url=server.base_url) as client:
        response = client.post("/chat/completions", json=body)
    assert response.status_code == status
    assert "message" in response.json()["error"]
