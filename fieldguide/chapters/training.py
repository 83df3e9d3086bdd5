"""The datasets-and-training chapter: the course's customer-support intents, and small helpers.

The intents dataset is written by :func:`make_intents` from hand-written phrases and templates,
with a fixed seed, and committed in ``data/intents/`` (``python -m fieldguide.chapters.training``
rewrites it byte for byte). Six intents share most of their words (cancel / change an order or a
subscription, track an order, return an item); each slot has many paraphrases, and a share of
them appears only in the test set, as new customers' wording does. So a bag-of-words model that
learns which words go with which intent meets words it never saw, while a pretrained encoder
knows that "membership" is close to "subscription".
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any, Iterable

LABELS = ("cancel_order", "change_order", "track_order", "return_item", "cancel_subscription", "change_subscription")
SEED = 13
TRAIN_PER_LABEL = 100
TEST_PER_LABEL = 25
NEW_WORDING = 0.3  # in the test set, the chance that a slot takes a phrase never used in training

# Each slot: phrases seen in training and test ("shared"), and phrases kept for the test set only.
ORDER = {
    "shared": ["my order", "the order", "my purchase", "the package", "my parcel", "the shoes I ordered",
               "the jacket I bought", "my delivery", "the item I ordered", "order 4417", "my last order",
               "the headphones I bought yesterday", "the shipment"],
    "test": ["the lamp I paid for on Monday", "what I bought last night", "the stuff I checked out",
             "the sofa I picked yesterday", "the consignment"],
}
SUBSCRIPTION = {
    "shared": ["my subscription", "my membership", "my monthly plan", "the premium plan", "my annual plan",
               "the auto-renewal", "my account plan", "the family plan", "my recurring payment",
               "the monthly box", "my yearly membership", "the subscription"],
    "test": ["the plan I pay for every month", "my standing monthly charge", "my club membership",
             "the renewal that bills me every year", "my pro tier"],
}
VERBS = {
    "cancel": {"shared": ["cancel", "call off", "stop", "scrap", "abandon", "withdraw", "undo", "end"],
               "test": ["back out of", "get rid of", "kill", "void"]},
    "change": {"shared": ["change", "update", "modify", "edit", "adjust", "amend", "alter", "make changes to"],
               "test": ["tweak", "rework", "revise", "correct"]},
    "return": {"shared": ["return", "send back", "get a refund for", "ship back", "give back", "post back"],
               "test": ["hand back", "get reimbursed for", "exchange for cash"]},
}
# Whole requests with {obj} (and {verb} where the intent's verb goes).
REQUESTS = {
    "cancel_order": ["I want to {verb} {obj}.", "Please {verb} {obj} before it ships.", "Can you {verb} {obj}?",
                     "I need to {verb} {obj}, I ordered it by mistake.", "How do I {verb} {obj}?",
                     "I don't want {obj} any more, please {verb} it.", "Is it too late to {verb} {obj}?"],
    "change_order": ["I want to {verb} {obj}.", "Can you {verb} {obj}?", "How do I {verb} {obj}?",
                     "I need to {verb} {obj}, the size is wrong.", "Please {verb} the address on {obj}.",
                     "Is it too late to {verb} {obj}?", "I'd like to {verb} the colour of {obj}."],
    "track_order": ["Where is {obj}?", "Has {obj} shipped yet?", "When will {obj} arrive?",
                    "I'm still waiting for {obj}.", "Can you tell me the status of {obj}?",
                    "{obj} hasn't turned up yet.", "Is {obj} on its way?", "How do I follow {obj}?",
                    "It's been a week and {obj} is not here."],
    "return_item": ["I want to {verb} {obj}.", "Can I {verb} {obj}?", "How do I {verb} {obj}?",
                    "{obj} arrived broken, I want to {verb} it.", "{obj} doesn't fit, can I {verb} it?",
                    "Is it too late to {verb} {obj}?", "I received {obj} but I'd like to {verb} it."],
    "cancel_subscription": ["I want to {verb} {obj}.", "Please {verb} {obj} before the next payment.",
                            "Can you {verb} {obj}?", "How do I {verb} {obj}?",
                            "I don't want {obj} any more, please {verb} it.", "Is it too late to {verb} {obj}?",
                            "I need to {verb} {obj}, it's too expensive."],
    "change_subscription": ["I want to {verb} {obj}.", "Can you {verb} {obj}?", "How do I {verb} {obj}?",
                            "I'd like to upgrade {obj}.", "Can I downgrade {obj} to the basic tier?",
                            "I need to {verb} {obj}, I want fewer users.", "Is it too late to {verb} {obj}?",
                            "Please move {obj} to yearly billing."],
}
# Requests that name another intent's action to reject it: the same words in another order mean
# another intent, which no bag of words can tell apart. {other} is a verb of a rival intent.
CONTRASTS = ["I don't want to {other} {obj}, I want to {verb} it.", "I want to {verb} {obj}, not {other} it.",
             "Please don't {other} {obj}. I'd rather {verb} it.", "No need to {other} {obj}; just {verb} it.",
             "I was going to {other} {obj} but now I'd like to {verb} it instead."]
TRACK_CONTRASTS = ["I don't want to {other} {obj}, I just need to know where it is.",
                   "No need to {other} {obj}; just tell me when it arrives.",
                   "Before I {other} {obj}, can you check where it is?"]
RIVALS = {"cancel_order": ["change", "return"], "change_order": ["cancel", "return"], "return_item": ["cancel", "change"],
          "track_order": ["cancel", "change", "return"], "cancel_subscription": ["change"],
          "change_subscription": ["cancel"]}
CONTRAST_SHARE = 0.5  # the chance that a text is a contrast request
VERB_OF = {"cancel_order": "cancel", "change_order": "change", "return_item": "return",
           "cancel_subscription": "cancel", "change_subscription": "change"}
OBJECT_OF = {"cancel_order": ORDER, "change_order": ORDER, "track_order": ORDER, "return_item": ORDER,
             "cancel_subscription": SUBSCRIPTION, "change_subscription": SUBSCRIPTION}
OPENERS = ["", "", "", "Hi, ", "Hello, ", "Quick question: ", "Hey there, ", "Good morning, ", "Sorry to bother you, "]
CLOSERS = ["", "", "", " Thanks!", " Thank you.", " Cheers.", " Please help.", " It's urgent."]


def _fill(template: str, label: str, pool: str, rng: random.Random) -> str:
    """One text: a request template with an object and a verb drawn from ``pool`` ("shared" or "test")."""
    def draw(slot: dict[str, list[str]]) -> str:
        if pool == "test" and rng.random() < NEW_WORDING:
            return rng.choice(slot["test"])
        return rng.choice(slot["shared"])

    verb = draw(VERBS[VERB_OF[label]]) if label in VERB_OF else ""
    other = draw(VERBS[rng.choice(RIVALS[label])])
    text = template.format(obj=draw(OBJECT_OF[label]), verb=verb, other=other)
    for phrase in (verb, other):
        head, _, particle = phrase.partition(" ")
        if particle in ("back", "off"):  # "send it back", not "send back it"
            text = text.replace(f"{phrase} it", f"{head} it {particle}")
    opener = rng.choice(OPENERS)
    if opener and not text.startswith(("I ", "I'")):
        text = text[0].lower() + text[1:]
    text = opener + text + rng.choice(CLOSERS)
    return text[0].upper() + text[1:]


def make_intents(seed: int = SEED) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The course's intents: (train, test) rows of ``{"text", "label"}``, no text in both, fixed by ``seed``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, list[dict[str, str]]] = {"train": [], "test": []}
    for split, per_label in (("test", TEST_PER_LABEL), ("train", TRAIN_PER_LABEL)):
        for label in LABELS:
            made = 0
            while made < per_label:
                contrasts = TRACK_CONTRASTS if label == "track_order" else CONTRASTS
                templates = contrasts if rng.random() < CONTRAST_SHARE else REQUESTS[label]
                text = _fill(rng.choice(templates), label, "test" if split == "test" else "shared", rng)
                if text.lower() not in seen:
                    seen.add(text.lower())
                    splits[split].append({"text": text, "label": label})
                    made += 1
        rng.shuffle(splits[split])
    return splits["train"], splits["test"]


def write_intents(folder: Path) -> list[Path]:
    """Write ``train.csv`` and ``test.jsonl`` (the committed files) into ``folder``."""
    train, test = make_intents()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "train.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(train)
    (folder / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in test), encoding="utf-8")
    return [folder / "train.csv", folder / "test.jsonl"]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV or JSON Lines file, as dictionaries (for tests and checks, without ``datasets``)."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def count(rows: Iterable[dict[str, Any]], key: str = "label") -> dict[str, int]:
    """How many rows have each value of ``key``."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[key]] = counts.get(row[key], 0) + 1
    return counts


# ----------------------------------------------------------------------------------------------
# Training: the course command ``python -m fieldguide train minilm-intents-lora`` (train_checkpoint)
# and the pieces the chapter reuses. transformers, peft and datasets are imported inside functions.

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MAX_LENGTH = 32
THREADS = 1  # one thread keeps a rerun byte-identical (and costs little on a 22M-parameter model)
FULL = {"learning_rate": 2e-4, "num_train_epochs": 3}
LORA = {"learning_rate": 1e-3, "num_train_epochs": 4}
LORA_RANK = 8
LORA_TARGETS = ["query", "key", "value", "intermediate.dense", "output.dense"]  # every linear layer but the pooler


def load_intents(folder: Path) -> Any:
    """The committed files as a ``DatasetDict`` (train from CSV, test from JSON Lines) with a ClassLabel label."""
    from datasets import ClassLabel, load_dataset

    splits = load_dataset("csv", data_files={"train": str(folder / "train.csv")})
    splits["test"] = load_dataset("json", data_files=str(folder / "test.jsonl"), split="train")
    return splits.cast_column("label", ClassLabel(names=list(LABELS)))


def tokenized(splits: Any, tokenizer: Any, seed: int = 0) -> Any:
    """Train/validation/test, tokenized to ``MAX_LENGTH`` (no padding: the collator pads each batch)."""
    from datasets import DatasetDict

    held = splits["train"].train_test_split(test_size=0.1, seed=seed, stratify_by_column="label")
    parts = DatasetDict(train=held["train"], validation=held["test"], test=splits["test"])
    return parts.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=MAX_LENGTH), batched=True)


def compute_metrics(prediction: Any) -> dict[str, float]:
    """Accuracy and macro F1 from a ``Trainer`` evaluation (scikit-learn's metrics)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    logits, labels = prediction
    predicted = np.argmax(logits, axis=-1)
    return {"accuracy": float(accuracy_score(labels, predicted)), "f1": float(f1_score(labels, predicted, average="macro"))}


def classifier(revision: str | None = None) -> Any:
    """MiniLM with a fresh 6-way classification head and the intents' label names."""
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        MINILM, revision=revision, num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)})


def lora_config() -> Any:
    """LoRA on every linear layer of the encoder's 6 layers; the pooler and the new head are trained in full.

    MiniLM's pooler (a dense layer + tanh on the first token) was never trained for this use:
    frozen, it keeps LoRA near chance on the intents (measured: 42% on the test set).
    """
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.SEQ_CLS, r=LORA_RANK, lora_alpha=2 * LORA_RANK, lora_dropout=0.1,
                      target_modules=LORA_TARGETS, modules_to_save=["classifier", "pooler"])


def arguments(out: str, seed: int = 0, **overrides: Any) -> Any:
    """The chapter's TrainingArguments: CPU, batch 32, evaluate and log every 5 steps, keep the best."""
    from transformers import TrainingArguments

    settings: dict[str, Any] = dict(
        output_dir=out, per_device_train_batch_size=32, per_device_eval_batch_size=64, seed=seed, data_seed=seed,
        eval_strategy="steps", eval_steps=5, logging_steps=5, save_strategy="steps", save_steps=5,
        save_total_limit=1, load_best_model_at_end=True, metric_for_best_model="accuracy",
        report_to="none", use_cpu=True, disable_tqdm=True, warmup_steps=5)
    settings.update(overrides)
    return TrainingArguments(**settings)


def folder_mb(path: Path) -> float:
    """The size of a folder's files, in MB."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


def _run(model: Any, data: Any, tokenizer: Any, work: Path, seed: int, **overrides: Any) -> dict[str, Any]:
    import time

    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    trainer = Trainer(model=model, args=arguments(str(work), seed=seed, **overrides), train_dataset=data["train"],
                      eval_dataset=data["validation"], data_collator=DataCollatorWithPadding(tokenizer),
                      compute_metrics=compute_metrics, callbacks=[EarlyStoppingCallback(early_stopping_patience=4)])
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    test = trainer.evaluate(data["test"], metric_key_prefix="test")
    return {"trainer": trainer, "trainable": trainable, "parameters": total, "seconds": round(seconds),
            "steps": trainer.state.global_step, "test_accuracy": test["test_accuracy"], "test_f1": test["test_f1"],
            "history": [{k: v for k, v in row.items() if k in ("step", "loss", "eval_loss", "eval_accuracy")}
                        for row in trainer.state.log_history if "step" in row]}


def baseline_accuracy(train: list[dict[str, str]], test: list[dict[str, str]]) -> float:
    """TF-IDF + logistic regression, the bag-of-words baseline, on the test set."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    model.fit([r["text"] for r in train], [r["label"] for r in train])
    return float((model.predict([r["text"] for r in test]) == [r["label"] for r in test]).mean())


def train_checkpoint(out: Path, folder: Path, revision: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Fine-tune MiniLM on the intents twice (full, LoRA), save the LoRA adapter and both runs' record in ``out``."""
    import tempfile

    import torch
    from peft import get_peft_model
    from transformers import AutoTokenizer, enable_full_determinism

    torch.set_num_threads(THREADS)
    tokenizer = AutoTokenizer.from_pretrained(MINILM, revision=revision)
    data = tokenized(load_intents(folder), tokenizer, seed=seed)
    record: dict[str, Any] = {"baseline_accuracy": baseline_accuracy(read_rows(folder / "train.csv"),
                                                                     read_rows(folder / "test.jsonl"))}
    with tempfile.TemporaryDirectory() as work:
        enable_full_determinism(seed)
        full = _run(classifier(revision), data, tokenizer, Path(work) / "full", seed, **FULL)
        full["trainer"].save_model(str(Path(work) / "full-model"))
        full["mb_on_disk"] = round(folder_mb(Path(work) / "full-model"), 1)
        enable_full_determinism(seed)
        lora = _run(get_peft_model(classifier(revision), lora_config()), data, tokenizer, Path(work) / "lora", seed, **LORA)
    out.mkdir(parents=True, exist_ok=True)
    lora["trainer"].model.save_pretrained(str(out))
    lora["mb_on_disk"] = round(folder_mb(out), 2)
    for name, run in (("full", full), ("lora", lora)):
        run.pop("trainer")
        record[name] = run
    (out / "training-record.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    write_card(out, record)
    return record


def write_card(out: Path, record: dict[str, Any]) -> None:
    """The checkpoint's README.md: a Hub model card (metadata block + text) made with huggingface_hub."""
    import peft
    import torch
    import transformers
    from huggingface_hub import ModelCard, ModelCardData

    full, lora = record["full"], record["lora"]
    data = ModelCardData(base_model=MINILM, library_name="peft", license="apache-2.0", language="en",
                         pipeline_tag="text-classification", tags=["lora", "intent-classification", "fieldguide"],
                         metrics=["accuracy"], model_name="fieldguide/minilm-intents-lora")
    text = f"""---
{data.to_yaml()}
---

# fieldguide/minilm-intents-lora

A LoRA adapter for [{MINILM}](https://huggingface.co/{MINILM}) that sorts short customer-support
messages into six intents ({", ".join(LABELS)}). Made by the Hugging Face Field Guide for its
chapter on datasets and training; it is not on the Hugging Face Hub.

- **Data:** the course's intents (`data/intents/`, written for the course, CC0): 600 training
  messages (540 to train, 60 held out for validation with `train_test_split(seed=0)`) and
  150 test messages whose wording is partly new.
- **Adapter:** LoRA r={LORA_RANK}, alpha={2 * LORA_RANK}, dropout 0.1, on every linear layer (`query`, `key`, `value`, `output.dense`, `intermediate.dense`) of all 6
  layers; the pooler and the new classification head are trained in full. {lora['trainable']:,} of
  {lora['parameters']:,} parameters trainable ({lora['trainable'] / lora['parameters']:.2%}).
- **Training:** `Trainer`, batch 32, max length {MAX_LENGTH}, up to {LORA['num_train_epochs']} epochs at
  learning rate {LORA['learning_rate']:g} with 5 warm-up steps and a linear decay, evaluation every
  5 steps on the validation split, early stopping (patience 4) on accuracy, best checkpoint kept;
  seed 0, {THREADS} thread, full determinism. {lora['steps']} steps in {lora['seconds']} s.
- **Compared with** a full fine-tune of the same model with the same settings (learning rate
  {FULL['learning_rate']:g}, up to {FULL['num_train_epochs']} epochs): {full['steps']} steps in {full['seconds']} s, {full['mb_on_disk']:g} MB saved
  against {lora['mb_on_disk']:g} MB for this adapter.
- **Test accuracy** (150 messages): this adapter {lora['test_accuracy']:.1%}, the full fine-tune
  {full['test_accuracy']:.1%}, TF-IDF + logistic regression {record['baseline_accuracy']:.1%}.
- **Made by:** `python -m fieldguide train minilm-intents-lora` (fieldguide/chapters/training.py)
  with torch {torch.__version__}, transformers {transformers.__version__} and peft {peft.__version__},
  on a 2-core CPU busy with other jobs (expect shorter times on a quiet one). Every number above is
  in `training-record.json`.
- **Licence:** Apache-2.0, like the base model and the course's code.

Load it onto its base model:

```python
from peft import PeftModel
from transformers import AutoModelForSequenceClassification

base = AutoModelForSequenceClassification.from_pretrained("{MINILM}", num_labels={len(LABELS)})
model = PeftModel.from_pretrained(base, "fieldguide/minilm-intents-lora")
```
"""
    ModelCard(text).save(out / "README.md")

if __name__ == "__main__":
    from fieldguide.resources import data_path

    for written in write_intents(data_path("intents")):
        print(written)
