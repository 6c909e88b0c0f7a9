"""Model names resolved by Ollama's rules (its types/model/name.go)."""

from __future__ import annotations

import pytest

from mochi_grpc.llm.model_names import ModelName, find_listed, shortest_name


@pytest.mark.parametrize(
    ("written", "listed_as"),
    [
        ("llama3.2", "llama3.2:latest"),
        ("llama3.2:latest", "llama3.2:latest"),
        ("llama3.2:1b", "llama3.2:1b"),
        ("library/llama3.2", "llama3.2:latest"),
        ("library/llama3.2:1b", "llama3.2:1b"),
        ("registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        ("registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),
        ("https://registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        # The default host and namespace are recognised in any case; the
        # model and tag keep the case they were written in.
        ("Registry.Ollama.AI/LIBRARY/llama3.2", "llama3.2:latest"),
        ("Llama3.2:Latest", "Llama3.2:Latest"),
        # Another namespace or host is part of the name.
        ("myname/model", "myname/model:latest"),
        ("myname/model:v2", "myname/model:v2"),
        ("registry.ollama.ai/myname/model", "myname/model:latest"),
        ("hf.co/user/repo:Q4_K_M", "hf.co/user/repo:Q4_K_M"),
        ("hf.co/user/repo", "hf.co/user/repo:latest"),
        ("hf.co/library/repo", "hf.co/library/repo:latest"),
        # A port is the host's, not a tag.
        ("localhost:5000/team/model", "localhost:5000/team/model:latest"),
        ("localhost:5000/team/model:v1", "localhost:5000/team/model:v1"),
        ("smollm2", "smollm2:latest"),
        ("smollm2:135m", "smollm2:135m"),
    ],
)
def test_a_name_is_completed_and_shown_as_ollama_lists_it(written: str, listed_as: str) -> None:
    assert shortest_name(written) == listed_as


@pytest.mark.parametrize(
    "written",
    [
        "",
        "llama3.2:",  # a separator promises a part
        ":latest",
        "/llama3.2",
        "library/",
        "a//b",
        "my.name/model",  # no dots in a namespace
        "a/b/c/d",  # a host has no slash
        "llama 3.2",
        "llama3.2@sha256-abc",
        "-model",  # a part starts with a letter, digit or _
        "m" * 81,
    ],
)
def test_an_invalid_name_names_no_model(written: str) -> None:
    assert ModelName.parse(written) is None
    assert shortest_name(written) is None
    assert find_listed(written, ["llama3.2:latest", "my.name/model:latest"]) is None


LISTED = ["llama3.2:latest", "llama3.2:1b", "myname/acc:latest", "hf.co/user/repo:Q4_K_M"]


@pytest.mark.parametrize(
    ("requested", "found"),
    [
        ("llama3.2", "llama3.2:latest"),
        ("LLAMA3.2", "llama3.2:latest"),
        ("llama3.2:LATEST", "llama3.2:latest"),
        ("library/llama3.2", "llama3.2:latest"),
        ("registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),
        ("REGISTRY.OLLAMA.AI/Library/Llama3.2:1B", "llama3.2:1b"),
        ("myname/acc", "myname/acc:latest"),
        ("MyName/ACC:latest", "myname/acc:latest"),
        ("registry.ollama.ai/myname/acc", "myname/acc:latest"),
        ("hf.co/user/repo:Q4_K_M", "hf.co/user/repo:Q4_K_M"),
        ("HF.co/User/Repo:q4_k_m", "hf.co/user/repo:Q4_K_M"),
    ],
)
def test_a_requested_name_finds_the_listed_name_of_its_model(requested: str, found: str) -> None:
    assert find_listed(requested, LISTED) == found


@pytest.mark.parametrize(
    "requested",
    [
        "acc",  # library/acc, not myname/acc
        "library/acc",
        "othername/acc",
        "hf.co/user/repo",  # :latest, not :Q4_K_M
        "example.com/user/repo:Q4_K_M",
        "hf.co/other/repo:Q4_K_M",
        "llama3.2:3b",
        "myname/llama3.2",
    ],
)
def test_another_host_namespace_or_tag_is_another_model(requested: str) -> None:
    assert find_listed(requested, LISTED) is None


def test_an_untagged_name_does_not_match_a_model_with_another_tag() -> None:
    # The embedded backend lists only smollm2:135m; smollm2 means smollm2:latest.
    assert find_listed("smollm2", ["smollm2:135m"]) is None
    assert find_listed("SmolLM2:135M", ["smollm2:135m"]) == "smollm2:135m"
    assert find_listed("library/smollm2:135m", ["smollm2:135m"]) == "smollm2:135m"


def test_an_exact_listed_name_wins_over_another_spelling() -> None:
    assert find_listed("Acc:latest", ["acc:latest", "Acc:latest"]) == "Acc:latest"
    assert find_listed("acc", ["Acc:latest", "acc:latest"]) == "Acc:latest"


def test_a_listed_name_outside_the_rules_is_found_only_exactly() -> None:
    assert find_listed("odd name", ["odd name"]) == "odd name"
    assert find_listed("odd", ["odd name"]) is None
