"""The chat-tuning chapter's pairs are well formed, and its committed LoRA adapter does the job."""

from __future__ import annotations

import json
import random

import pytest

from fieldguide import kit
from fieldguide.chapters import chat_tuning as ct
from fieldguide.resources import data_path


@pytest.fixture(scope="module")
def pairs() -> dict[str, list[dict]]:
    return {split: ct.load_pairs(split) for split in ("train", "heldout")}


def test_pairs_are_prompt_completion_chats_with_strict_json_answers(pairs):
    assert len(pairs["train"]) >= 150 and len(pairs["heldout"]) >= 30
    for pair in pairs["train"] + pairs["heldout"]:
        assert [m["role"] for m in pair["prompt"]] == ["user"]
        assert [m["role"] for m in pair["completion"]] == ["assistant"]
        answer = ct.parse_answer(pair["completion"][0]["content"])
        assert answer is not None and list(answer) == list(ct.FIELDS), pair["entry"]
        assert answer["model"] == pair["entry"]
        user = pair["prompt"][0]["content"]
        assert f"id: {answer['model']}\n" in user + "\n" and f"licence: {answer['licence']}" in user
        assert f"pipeline_tag: {answer['task']}" in user


def test_held_out_entries_never_appear_in_training(pairs):
    train = {p["entry"] for p in pairs["train"]}
    held = [p["entry"] for p in pairs["heldout"]]
    assert len(set(held)) == len(held) >= 30
    assert not train & set(held)
    named = {line[4:] for p in pairs["train"] for line in p["prompt"][0]["content"].splitlines() if line.startswith("id: ")}
    assert named == train and not named & set(held)


def test_pairs_are_remade_by_the_seeded_generator(pairs):
    rows = [{"id": f"org/m{i}", "organization": "o", "pipeline_tag": "fill-mask", "licence": "mit",
             "parameters": "1M", "release_year": 2020} for i in range(50)]
    assert ct.make_pairs(rows, seed=3) == ct.make_pairs(rows, seed=3)
    made = ct.make_pairs(rows, seed=3)
    assert len(made["heldout"]) == ct.HELD_OUT and len(made["train"]) == (50 - ct.HELD_OUT) * ct.PAIRS_PER_ENTRY


@pytest.mark.parametrize("text, valid", [
    ('{"model": "a/b", "task": "t", "licence": "mit"}', True),
    (' {"model": "a/b"}\n', True),
    ('```json\n{"model": "a/b"}\n```', False),
    ('Here it is: {"model": "a/b"}', False),
    ('["a/b"]', False),
])
def test_parse_answer_accepts_only_one_bare_json_object(text, valid):
    assert (ct.parse_answer(text) is not None) == valid


def test_score_counts_fields_only_for_valid_json(pairs):
    held = pairs["heldout"][:3]
    right = [p["completion"][0]["content"] for p in held]
    wrong = ["not json", right[1].replace(held[1]["entry"], "x/y"), "```" + right[2] + "```"]
    assert ct.score(right, held)["all_right"] == 3
    counts = ct.score(wrong, held)
    assert counts["valid_json"] == 1 and counts["model"] == 0 and counts["task"] == 1


def test_the_committed_adapter_is_registered_with_its_hashes():
    model = kit.load_registry()[ct.ADAPTER]
    folder = data_path(model.local["path"])
    assert kit.hash_tree(folder) == model.pins("local")
    assert model.revision == model.pins("local")["adapter_model.safetensors"][:40]


def test_the_committed_adapter_answers_held_out_prompts_in_json(pairs):
    """Base + adapter, merged, answers 4 held-out prompts as strict JSON with the right model id."""
    import torch
    from peft import PeftModel

    registry = kit.load_registry()
    base = kit.installed(registry[ct.SMOLLM])
    if base is None or base.problems:
        pytest.skip(f"{ct.SMOLLM} is not installed")
    torch.manual_seed(0)
    model, tokenizer = ct.load_base(base.revision)
    merged = PeftModel.from_pretrained(model, data_path(registry[ct.ADAPTER].local["path"])).merge_and_unload()
    sample = random.Random(0).sample(pairs["heldout"], 4)
    answers = ct.generate(merged, tokenizer, sample, max_new_tokens=48)  # the longest held-out answer is 47 tokens
    counts = ct.score(answers, sample)
    assert counts["valid_json"] == 4, answers
    assert counts["model"] >= 3, json.dumps(answers)
