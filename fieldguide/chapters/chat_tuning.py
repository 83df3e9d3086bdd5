"""Teaching SmolLM2-135M-Instruct a new job with TRL: catalog questions answered as strict JSON.

The job: the user message holds one catalog entry (a few fields as text, in a shuffled order)
and a question; the answer is exactly one JSON object ``{"model": ..., "task": ..., "licence": ...}``
copied from that entry. :func:`make_pairs` writes the chat pairs from the catalog (seeded), with
held-out entries that never appear in training. ``python -m fieldguide train chat-json`` runs
:func:`train_adapter`: a LoRA adapter trained with ``trl.SFTTrainer`` on the prompt-completion
pairs (loss on the assistant's tokens only), committed in ``data/checkpoints/smollm2-catalog-json``
and registered as ``fieldguide/smollm2-catalog-json``.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any, Iterable

import torch

SMOLLM = "HuggingFaceTB/SmolLM2-135M-Instruct"
ADAPTER = "fieldguide/smollm2-catalog-json"
SEED = 0
THREADS = 1  # one thread keeps a rerun byte-identical
HELD_OUT = 32  # catalog entries never seen in training
PAIRS_PER_ENTRY = 2  # training pairs per training entry (other field order and question)
FIELDS = ("model", "task", "licence")
CARD_FIELDS = {"id": "id", "organization": "organisation", "pipeline_tag": "pipeline_tag",
               "licence": "licence", "parameters": "parameters", "release_year": "release_year"}
QUESTIONS = (
    "Reply with a JSON object with the keys model, task and licence for this entry.",
    "Give me this model's id, task and licence as JSON.",
    "As JSON please: which model is this, what task does it do, and under which licence?",
    "Extract model, task and licence from the entry above. JSON only.",
    "What are the model id, pipeline task and licence here? Answer in JSON.",
    "Summarise this catalog entry as JSON with model, task, licence.",
)
LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
TRAINING = {"num_train_epochs": 1, "per_device_train_batch_size": 4, "learning_rate": 1e-3,
            "lr_scheduler_type": "linear", "warmup_steps": 4}


def answer_of(row: dict[str, Any]) -> dict[str, str]:
    """The JSON object a catalog entry should be answered with."""
    return {"model": str(row["id"]), "task": str(row["pipeline_tag"]), "licence": str(row["licence"])}


def card_text(row: dict[str, Any], rng: random.Random) -> str:
    """A catalog entry as ``key: value`` lines, fields in a random order."""
    keys = list(CARD_FIELDS)
    rng.shuffle(keys)
    return "\n".join(f"{CARD_FIELDS[k]}: {row[k]}" for k in keys)


def make_pair(row: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One prompt-completion chat pair (TRL's conversational format) about one entry."""
    question = rng.choice(QUESTIONS)
    user = f"Catalog entry:\n{card_text(row, rng)}\n\n{question}"
    answer = json.dumps(answer_of(row))
    return {"entry": str(row["id"]), "prompt": [{"role": "user", "content": user}],
            "completion": [{"role": "assistant", "content": answer}]}


def make_pairs(rows: Iterable[dict[str, Any]], seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """Training and held-out pairs: ``HELD_OUT`` entries chosen at random are only ever held out."""
    rows = sorted(rows, key=lambda r: str(r["id"]))
    rng = random.Random(seed)
    held = set(rng.sample(range(len(rows)), HELD_OUT))
    train = [make_pair(r, rng) for i, r in enumerate(rows) if i not in held for _ in range(PAIRS_PER_ENTRY)]
    heldout = [make_pair(r, rng) for i, r in enumerate(rows) if i in held]
    rng.shuffle(train)
    return {"train": train, "heldout": heldout}


def write_pairs(folder: Path, seed: int = SEED) -> dict[str, int]:
    """Write ``train.jsonl`` and ``heldout.jsonl`` from the current catalog; return their sizes."""
    from fieldguide import catalog

    rows = catalog.models()[list(CARD_FIELDS)].to_dict("records")
    pairs = make_pairs(rows, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, items in pairs.items():
        lines = [json.dumps(item, ensure_ascii=False) for item in items]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {split: len(items) for split, items in pairs.items()}


def load_pairs(split: str, folder: Path | None = None) -> list[dict[str, Any]]:
    """The committed pairs of one split (``train`` or ``heldout``)."""
    from fieldguide.resources import data_path

    path = (folder or data_path("chat-tuning")) / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def parse_answer(text: str) -> dict[str, Any] | None:
    """The answer as a dict if it is strict JSON: one object, nothing around it; else None."""
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def score(outputs: list[str], pairs: list[dict[str, Any]]) -> dict[str, int]:
    """Counts over the prompts: strict-JSON answers, exact key set, and each field right."""
    counts = {"prompts": len(pairs), "valid_json": 0, "right_keys": 0, **{f: 0 for f in FIELDS}, "all_right": 0}
    for text, pair in zip(outputs, pairs, strict=True):
        got, want = parse_answer(text), json.loads(pair["completion"][0]["content"])
        if got is None:
            continue
        counts["valid_json"] += 1
        counts["right_keys"] += set(got) == set(FIELDS)
        for field_name in FIELDS:
            counts[field_name] += got.get(field_name) == want[field_name]
        counts["all_right"] += got == want
    return counts


def load_base(revision: str, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct and its tokenizer (left padding, for batched generation)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(SMOLLM, revision=revision)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(SMOLLM, revision=revision, dtype=dtype)
    return model, tokenizer


@torch.inference_mode()
def generate(model: Any, tokenizer: Any, pairs: list[dict[str, Any]], max_new_tokens: int = 48,
             batch_size: int = 16) -> list[str]:
    """Greedy answers to the pairs' prompts, batched with left padding.

    Batches of 16 took 35 s for the 32 held-out prompts on 2 cores, against 55 s in batches of 8;
    32 at once saved 4 s more but added about 650 MB.
    """
    model.eval()
    answers: list[str] = []
    for start in range(0, len(pairs), batch_size):
        chats = [p["prompt"] for p in pairs[start:start + batch_size]]
        texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
        batch = tokenizer(texts, return_tensors="pt", padding=True)
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
        answers += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    return answers


def as_dataset(pairs: list[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` with TRL's conversational prompt-completion columns."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": p["prompt"], "completion": p["completion"]} for p in pairs])


def lora_config() -> Any:
    """The LoRA adapter: rank 8 on the four attention projections of every layer (3.7 MB in fp32)."""
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", **LORA)


def sft_config(out: Path | str, **overrides: Any) -> Any:
    """TRL's ``SFTConfig`` for this job: CPU in fp32, loss on completion tokens only, short sequences.

    TRL turns bf16 mixed precision on by default; a CPU without bf16 instructions then runs every
    matrix product through a slow fallback (a training step here took over ten times longer).
    """
    from trl import SFTConfig

    settings: dict[str, Any] = {
        "output_dir": str(out), "use_cpu": True, "bf16": False, "seed": SEED, "data_seed": SEED,
        "completion_only_loss": True, "max_length": 256, "activation_checkpointing": False,
        "eval_strategy": "steps", "eval_steps": 10, "per_device_eval_batch_size": 8, "logging_steps": 5,
        "save_strategy": "no", "report_to": "none", "disable_tqdm": True, "dataloader_num_workers": 0,
        **TRAINING}
    settings.update(overrides)
    return SFTConfig(**settings)


def trainer(model: Any, tokenizer: Any, train: list[dict[str, Any]], heldout: list[dict[str, Any]] | None,
            out: Path | str, **overrides: Any) -> Any:
    """An ``SFTTrainer`` that wraps ``model`` in a fresh LoRA adapter (no evaluation without ``heldout``)."""
    from trl import SFTTrainer

    if not heldout:
        overrides = {"eval_strategy": "no"} | overrides
    return SFTTrainer(model=model, args=sft_config(out, **overrides), train_dataset=as_dataset(train),
                      eval_dataset=as_dataset(heldout) if heldout else None, processing_class=tokenizer,
                      peft_config=lora_config())


def losses(log_history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Train loss (mean since the last log) and held-out loss by step, from ``state.log_history``."""
    rows: dict[int, dict[str, float]] = {}
    for entry in log_history:
        step = int(entry.get("step", 0))
        if "loss" in entry:
            rows.setdefault(step, {"step": step})["train_loss"] = round(float(entry["loss"]), 4)
        if "eval_loss" in entry:
            rows.setdefault(step, {"step": step})["heldout_loss"] = round(float(entry["eval_loss"]), 4)
    return [rows[k] for k in sorted(rows)]


def train_adapter(out: Path, revision: str, seed: int = SEED, epochs: int | None = None) -> dict[str, Any]:
    """Train the course adapter deterministically; save it, its loss log and a README in ``out``."""
    import tempfile

    from transformers import set_seed

    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    set_seed(seed)
    train, heldout = load_pairs("train"), load_pairs("heldout")
    model, tokenizer = load_base(revision)
    overrides = {"seed": seed, "data_seed": seed} | ({"num_train_epochs": epochs} if epochs else {})
    with tempfile.TemporaryDirectory() as scratch:
        sft = trainer(model, tokenizer, train, heldout, scratch, **overrides)
        started = time.perf_counter()
        sft.train()
        seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    sft.model.save_pretrained(out)
    log = losses(sft.state.log_history)
    (out / "losses.json").write_text(json.dumps(log, indent=1) + "\n", encoding="utf-8")
    summary = {"seconds": round(seconds), "train_pairs": len(train), "heldout_pairs": len(heldout),
               "epochs": sft.args.num_train_epochs, "steps": sft.state.global_step, "losses": log,
               "trainable": sum(p.numel() for p in sft.model.parameters() if p.requires_grad)}
    (out / "README.md").write_text(_readme(summary), encoding="utf-8")
    return summary


def _readme(summary: dict[str, Any]) -> str:
    import peft
    import transformers
    import trl

    n = summary["heldout_pairs"]
    table = "\n".join(f"| {r['step']} | {r.get('train_loss', '')} | {r.get('heldout_loss', '')} |"
                      for r in summary["losses"])
    return f"""# fieldguide/smollm2-catalog-json

A LoRA adapter for `HuggingFaceTB/SmolLM2-135M-Instruct` made by the Hugging Face Field Guide for
its chat-tuning chapter. It teaches the model one job: given a catalog entry and a question,
answer with exactly one JSON object `{{"model": ..., "task": ..., "licence": ...}}`.
It is not on the Hugging Face Hub.

- **Base:** the course's offline copy of SmolLM2-135M-Instruct (de-quantised from a Q4_1 GGUF,
  fp32; see data/course-models.yaml), not the original bf16 weights.
- **Adapter:** `peft.LoraConfig` r={LORA['r']}, alpha={LORA['lora_alpha']}, dropout {LORA['lora_dropout']}, on
  {', '.join(LORA['target_modules'])}: {summary['trainable']:,} trainable parameters.
- **Data:** data/chat-tuning/train.jsonl ({summary['train_pairs']} prompt-completion pairs written by the course from
  the catalog); held out: data/chat-tuning/heldout.jsonl ({n} pairs about entries never in training).
- **Training:** `trl.SFTTrainer`, {summary['epochs']:g} epochs ({summary['steps']} steps), batch
  {TRAINING['per_device_train_batch_size']}, AdamW lr {TRAINING['learning_rate']:g}, linear decay after {TRAINING['warmup_steps']} warm-up steps,
  max_length 256, loss on the completion (assistant) tokens only. Seed {SEED}, 1 thread,
  `torch.use_deterministic_algorithms(True)`.
- **Made by:** `python -m fieldguide train chat-json` (fieldguide/chapters/chat_tuning.py) with
  torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__} and peft {peft.__version__}
  on a 2-core CPU; training took {summary['seconds']} s of wall time on a machine busy with other jobs.

Loss by step (mean token cross-entropy on the answer tokens; train: mean of the last 5 steps;
held-out: all {n} held-out pairs; also in losses.json):

| step | train | held-out |
|---|---|---|
{table}

The chapter measures the base model and the merged adapter on the {n} held-out prompts (valid
JSON, each field right) and shows the scores in its closing note.

- **Licence:** Apache-2.0, like the base model and the course's code. The pairs were written for
  the course from its own catalog.

Load it with PEFT:

```python
from peft import PeftModel
model = PeftModel.from_pretrained(base_model, folder)
merged = model.merge_and_unload()
```
"""
