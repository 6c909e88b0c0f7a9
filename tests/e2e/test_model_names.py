"""Model names over HTTP follow Ollama's rules: no tag means :latest, the
default registry and namespace may be written out, case does not matter; the
session keeps the name the model list shows."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes import FakeModel, FakeOllama

ALIASES = [
    "acc",
    "ACC",
    "acc:latest",
    "library/acc",
    "registry.ollama.ai/library/acc",
    "registry.ollama.ai/library/acc:latest",
]


@pytest.fixture(autouse=True)
def _acc(fake_ollama: FakeOllama) -> None:
    fake_ollama.add_model(FakeModel(name="acc:latest", context_length=4096))


async def test_a_session_created_with_an_untagged_name_keeps_the_listed_one(
    http: httpx.AsyncClient, fake_ollama: FakeOllama
) -> None:
    created = await http.post("/sessions", json={"model": "acc"})

    assert created.status_code == 201, created.text
    session = created.json()
    assert session["model"] == "acc:latest"
    answered = await http.post(f"/chat/{session['session_id']}", json={"message": "hi"})
    assert answered.status_code == 200, answered.text
    assert [r.model for r in fake_ollama.requests] == ["acc:latest"]
    stored = (await http.get(f"/sessions/{session['session_id']}")).json()
    assert stored["model"] == "acc:latest"


async def test_a_session_moved_to_an_untagged_name_keeps_the_listed_one(
    http: httpx.AsyncClient,
) -> None:
    session_id = (await http.post("/sessions", json={"model": "llama3.2:latest"})).json()[
        "session_id"
    ]

    changed = await http.patch(f"/sessions/{session_id}", json={"model": "library/acc"})

    assert changed.status_code == 200, changed.text
    assert changed.json()["model"] == "acc:latest"
    assert changed.json()["context_window"]["last_adjustment"] == "model_change"


@pytest.mark.parametrize("name", ALIASES)
async def test_get_model_answers_to_every_name_ollama_answers_to(
    http: httpx.AsyncClient, name: str
) -> None:
    response = await http.get(f"/models/{name}")

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["context_length"]) == ("acc:latest", 4096)


@pytest.mark.parametrize("name", ["ghost", "library/ghost", "myname/acc", "acc:7b"])
async def test_a_name_ollama_has_in_no_form_is_404(http: httpx.AsyncClient, name: str) -> None:
    for response in (
        await http.get(f"/models/{name}"),
        await http.post("/sessions", json={"model": name}),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "MODEL_NOT_FOUND"
    assert (await http.get("/sessions")).json()["sessions"] == []
