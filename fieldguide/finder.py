"""The Field Guide model finder: describe a need in plain words, get catalog models that fit.

MiniLM ranks the catalog's entries (``data/models.yaml``) by meaning, after hard filters (task,
licence class, gating, size, hardware). SmolLM2 then writes one grounded sentence: it picks one of
the retrieved entries and says why, and every ``org/name`` in its words is checked against the
retrieved ids; any other id and the answer falls back to the plain ranked list. The app
(``apps/model-finder``, ``python -m fieldguide app``) adds tabs that demo each course model.

Models load on first use, offline, from the Hugging Face cache the model kit fills.
"""

from __future__ import annotations

import contextlib
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pandas as pd

from fieldguide import catalog
from fieldguide.environment import lean_malloc, release_memory  # noqa: F401  (14 calls finder.release_memory)
from fieldguide.errors import FieldGuideError
from fieldguide.network import free_port  # noqa: F401  (14 imports it from here)
from fieldguide.resources import load_yaml

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM = "HuggingFaceTB/SmolLM2-135M-Instruct"
WHISPER = "Systran/faster-whisper-tiny.en"
MAX_CHARS = 500
MAX_AUDIO_S = 60
ANY = "any"
# Where a model must run -> the weight memory that must fit (a floor: activations come on top).
RUNS_ON = {
    "2 GB of RAM (Binder), CPU": ("fp32_gb", 2),
    "a laptop CPU (16 GB RAM)": ("fp32_gb", 16),
    "a T4 GPU (16 GB, fp16)": ("fp16_gb", 16),
}
LICENCE_CLASSES = ("permissive", "restricted", "non-commercial", "copyleft", "unknown")
HUB_ID = re.compile(r"(?<![\w.\-/])[A-Za-z0-9][\w.\-]*/[\w.\-]*[\w](?![\w\-/])")
INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|above|system)\b"
    r"|\b(system prompt|you are now|act as|pretend to be|jailbreak)\b", re.I | re.S)
# A few frequent function words of languages other than English: a cheap hint, not a language detector.
FOREIGN_WORDS = set(
    "der die das und nicht ist ein eine mit für auf den dem des zu von "
    "le la les et est une des pour avec dans sur pas "
    "el los las y es una para con por del que "
    "il di che per una sono".split())


class FinderInputError(FieldGuideError):
    """Input the finder cannot answer; the message says what to change."""


@dataclass(frozen=True)
class Filters:
    """Hard filters applied before ranking; ``None`` means any."""

    task: str | None = None
    licence_class: str | None = None
    ungated: bool = False
    max_params: float | None = None
    runs_on: str | None = None

    @classmethod
    def from_ui(cls, task: str, licence_class: str, ungated: bool, max_params_m: float | None, runs_on: str) -> "Filters":
        """The filters as the app's widgets give them ("any" and 0 mean no filter)."""
        return cls(task=None if task in (ANY, "", None) else task,
                   licence_class=None if licence_class in (ANY, "", None) else licence_class,
                   ungated=bool(ungated),
                   max_params=float(max_params_m) * 1e6 if max_params_m else None,
                   runs_on=None if runs_on in (ANY, "", None) else runs_on)

    def describe(self) -> str:
        parts = [f"task {self.task}" if self.task else "", f"licence {self.licence_class}" if self.licence_class else "",
                 "not gated" if self.ungated else "",
                 f"at most {self.max_params / 1e6:,.0f}M parameters" if self.max_params else "",
                 f"runs on {self.runs_on}" if self.runs_on else ""]
        return ", ".join(p for p in parts if p) or "no filters"


@dataclass
class Answer:
    """What the finder says: Markdown for people, the ranked entries, and how the text was made."""

    text: str
    entries: pd.DataFrame
    grounded: bool  # True: SmolLM2's sentence passed the id check; False: the plain ranked list
    notes: list[str] = field(default_factory=list)


def clean(text: Any) -> tuple[str, list[str]]:
    """The query as the finder reads it, and notes for the learner; raises FinderInputError when unusable.

    Control characters become spaces, whitespace is collapsed; empty, over-long or letter-less
    text is refused with a message that says what to do.
    """
    if not isinstance(text, str):
        raise FinderInputError("Describe what you need in words, e.g. 'transcribe German meetings on a laptop'.")
    notes = []
    controls = sum(unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t" for c in text)
    if controls:
        text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)
        notes.append(f"Removed {controls} control character{'s' if controls > 1 else ''} from your text.")
    text = " ".join(text.split())
    if not text:
        raise FinderInputError("The description is empty: describe what you need, e.g. "
                               "'embeddings for RAG with a commercial licence'.")
    if len(text) > MAX_CHARS:
        raise FinderInputError(f"The description has {len(text):,} characters; the finder reads at most {MAX_CHARS}. "
                               "Describe the need itself in a sentence or two.")
    if not any(c.isalpha() for c in text):
        raise FinderInputError("The description has no words: describe what you need in a few words.")
    letters = [c for c in text if c.isalpha()]
    words = set(re.findall(r"\w+", text.lower()))
    if sum(not c.isascii() for c in letters) > len(letters) / 3 or len(words & FOREIGN_WORDS) >= 2:
        notes.append("The finder's models read English best; this text looks like another language, "
                     "so the results may be weak. Try describing the need in English.")
    if INJECTION.search(text):
        notes.append("Your text reads like an instruction to the model. The finder only recommends catalog "
                     "entries, so it shows the ranked list without a written answer.")
    return text, notes


def cited_ids(text: str) -> set[str]:
    """Every ``org/name`` token in ``text`` (what the grounding check compares with the retrieved ids)."""
    return set(HUB_ID.findall(text))


def chapter_label(slug: str) -> str:
    """'chapter 07-audio (Audio and speech)' for a course chapter; a plain phrase otherwise."""
    for row in load_yaml("chapters.yaml"):
        if row["slug"] == slug:
            return f"chapter {row['notebook'].split('/')[-1]} ({row['title']})"
    return "no chapter yet" if slug == catalog.NONE else f"the planned chapter '{slug}'"


def document(row: Any, tasks: dict[str, str]) -> str:
    """The text MiniLM embeds for one catalog entry: its task in words, then its one-line why."""
    tag = row["pipeline_tag"]
    task = tasks.get(tag, tag).replace("-", " ") if tag != catalog.UNKNOWN else row["domain"]
    return f"{task}: {row['why']}"


class Finder:
    """The finder's models and catalog; pass already-loaded models to share them with a notebook."""

    def __init__(self, embedder: Any = None, chat: Any = None, whisper: Any = None,
                 revisions: dict[str, str] | None = None, max_new_tokens: int = 40) -> None:
        self._embedder, self._chat, self._whisper = embedder, chat, whisper
        self.revisions = revisions or {}
        self.max_new_tokens = max_new_tokens
        self.frame = catalog.models()
        tasks = {row["tag"]: row.get("name", row["tag"]) for row in load_yaml("tasks.yaml")}
        self.documents = [document(row, tasks) for row in self.frame.to_dict("records")]
        self._vectors: np.ndarray | None = None
        self._load = threading.Lock()
        self.llm_lock = threading.Lock()  # one generation at a time: two would only share the same 2 cores

    # -- models, loaded once on first use ------------------------------------------------------
    @property
    def embedder(self) -> Any:
        with self._load:
            if self._embedder is None:
                from sentence_transformers import SentenceTransformer

                self._embedder = SentenceTransformer(MINILM, revision=self.revisions.get(MINILM), device="cpu")
            return self._embedder

    @property
    def chat(self) -> Any:
        with self._load:
            if self._chat is None:
                from transformers import pipeline

                self._chat = pipeline("text-generation", model=SMOLLM, revision=self.revisions.get(SMOLLM))
            return self._chat

    @property
    def whisper(self) -> Any:
        with self._load:
            if self._whisper is None:
                from faster_whisper import WhisperModel

                self._whisper = WhisperModel(WHISPER, revision=self.revisions.get(WHISPER), device="cpu",
                                             compute_type="int8", cpu_threads=2)
            return self._whisper

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            self._vectors = self.embedder.encode(self.documents, normalize_embeddings=True)
        return self._vectors

    # -- retrieval --------------------------------------------------------------------------------
    def mask(self, filters: Filters) -> np.ndarray:
        """Which catalog entries pass the filters; raises FinderInputError naming the filter that empties it."""
        frame, keep = self.frame, np.ones(len(self.frame), dtype=bool)
        steps = []
        if filters.task:
            steps.append((f"task {filters.task}", (frame["pipeline_tag"] == filters.task).to_numpy()))
        if filters.licence_class:
            steps.append((f"licence class {filters.licence_class}", (frame["licence_class"] == filters.licence_class).to_numpy()))
        if filters.ungated:
            steps.append(("not gated", (frame["gated"] == False).to_numpy()))  # noqa: E712 -- "unknown" is not ungated
        if filters.max_params:
            steps.append((f"at most {filters.max_params / 1e6:,.0f}M parameters",
                          (frame["params"].notna() & (frame["params"] <= filters.max_params)).to_numpy()))
        if filters.runs_on:
            if filters.runs_on not in RUNS_ON:
                raise FinderInputError(f"'runs on' must be one of: {', '.join(RUNS_ON)}.")
            column, gb = RUNS_ON[filters.runs_on]
            steps.append((f"runs on {filters.runs_on}", (frame[column].notna() & (frame[column] <= gb)).to_numpy()))
        for name, step in steps:
            if not (keep & step).any():
                left = int(keep.sum())
                before = (f"the {left} {'entry' if left == 1 else 'entries'} the filters before it left"
                          if left < len(frame) else "the catalog")
                raise FinderInputError(f"No catalog model matches these filters: {filters.describe()}. "
                                       f"The filter '{name}' leaves nothing of {before}; loosen it. "
                                       "(Models of unknown size never pass a size or hardware filter.)")
            keep &= step
        return keep

    def search(self, query: str, filters: Filters = Filters(), k: int = 3) -> pd.DataFrame:
        """The k entries closest in meaning to ``query`` among those that pass ``filters``."""
        keep = self.mask(filters)
        scores = np.where(keep, self.vectors @ self.embedder.encode(query, normalize_embeddings=True), -np.inf)
        top = [int(i) for i in np.argsort(-scores, kind="stable")[:k] if np.isfinite(scores[i])]
        rows = self.frame.iloc[top]
        return pd.DataFrame({
            "rank": range(1, len(top) + 1),
            "id": rows["id"].to_numpy(),
            "task": rows["pipeline_tag"].to_numpy(),
            "parameters": rows["parameters"].astype(str).to_numpy(),
            "licence": (rows["licence"] + " (" + rows["licence_class"] + ")").to_numpy(),
            "gated": rows["gated"].astype(str).to_numpy(),
            "taught in": [chapter_label(slug) for slug in rows["chapter"]],
            "score": scores[top].round(3),
        })

    # -- the demo tabs ------------------------------------------------------------------------------
    def similarity(self, first: Any, second: Any) -> float:
        """Cosine similarity of two texts' MiniLM embeddings, to 3 decimals."""
        texts = [clean(text)[0] if isinstance(text, str) and text.strip() else "" for text in (first, second)]
        if not all(texts):
            raise FinderInputError("Type a sentence in both boxes.")
        a, b = self.embedder.encode(texts, normalize_embeddings=True)
        return round(float(a @ b), 3)

    def stream(self, prompt: Any, max_new_tokens: int = 48) -> Iterator[str]:
        """SmolLM2's greedy reply to ``prompt``, yielded as it grows (at most 128 new tokens)."""
        from transformers import TextIteratorStreamer

        text = clean(prompt)[0] if isinstance(prompt, str) and prompt.strip() else ""
        if not text:
            raise FinderInputError("Type a prompt first.")
        chat = self.chat
        inputs = chat.tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                                    return_dict=True, return_tensors="pt")
        streamer = TextIteratorStreamer(chat.tokenizer, skip_prompt=True, skip_special_tokens=True)
        with self.llm_lock:
            worker = threading.Thread(target=chat.model.generate, kwargs=dict(
                **inputs, streamer=streamer, max_new_tokens=max(1, min(int(max_new_tokens), 128)), do_sample=False))
            worker.start()
            reply = ""
            for piece in streamer:
                reply += piece
                yield reply
            worker.join()

    def transcribe(self, path: Any) -> str:
        """English speech in an audio file to text with Whisper tiny.en (greedy, temperature 0)."""
        if not path:
            raise FinderInputError("Upload or record an audio clip first.")
        try:
            from faster_whisper.audio import decode_audio

            audio = decode_audio(str(path), sampling_rate=16_000)
        except Exception:
            raise FinderInputError("That file could not be read as audio; upload a WAV, MP3 or FLAC clip.") from None
        if len(audio) > MAX_AUDIO_S * 16_000:
            raise FinderInputError(f"The clip is {len(audio) / 16_000:.0f} s long; this demo takes at most {MAX_AUDIO_S} s.")
        pieces, _ = self.whisper.transcribe(audio, language="en", beam_size=1, temperature=0.0)
        return " ".join(piece.text.strip() for piece in pieces) or "(no speech found)"

    # -- the grounded answer ------------------------------------------------------------------------
    def messages(self, need: str, entries: pd.DataFrame, reply_start: str) -> list[dict[str, str]]:
        """The chat prompt: the retrieved entries, numbered, the need, and the start of the reply."""
        why = dict(zip(self.frame["id"], self.frame["why"]))
        listed = "\n".join(f"[{row.rank}] {row.id} ({row.task}, {row.parameters} parameters, {row.licence}): {why[row.id]}"
                           for row in entries.itertuples())
        return [
            {"role": "system", "content": "You recommend models from a catalog. Use only the catalog entries given. "
                                          "Never name any other model."},
            {"role": "user", "content": f"Catalog entries:\n{listed}\n\nMy need: {need}\n"
                                        "Which entry fits my need best, and why? Answer in one sentence."},
            {"role": "assistant", "content": reply_start},
        ]

    def pick(self, need: str, entries: pd.DataFrame) -> np.ndarray:
        """SmolLM2's probability of naming each entry next after 'The best entry is ['."""
        import torch

        chat = self.chat
        inputs = chat.tokenizer.apply_chat_template(self.messages(need, entries, "The best entry is ["),
                                                    continue_final_message=True, return_dict=True, return_tensors="pt")
        with torch.no_grad():
            probabilities = chat.model(**inputs, logits_to_keep=1).logits[0, -1].softmax(-1)
        numbers = chat.tokenizer.convert_tokens_to_ids([str(n) for n in range(1, len(entries) + 1)])
        chosen = probabilities[numbers].numpy()
        return chosen / chosen.sum()

    def reason(self, need: str, entries: pd.DataFrame, best: int) -> str:
        """SmolLM2's reason for entry ``best`` (greedy, at most ``max_new_tokens``), cut at the first sentence."""
        start = f"The best entry is [{best + 1}] {entries['id'][best]}, because"
        reply = self.chat(self.messages(need, entries, start), max_new_tokens=self.max_new_tokens, do_sample=False,
                          continue_final_message=True)[0]["generated_text"][-1]["content"]
        words = reply[len(start):] if reply.startswith(start) else reply
        sentence = re.split(r"(?<=[.!?])\s|\n", words.strip(), maxsplit=1)[0].strip()
        return sentence

    def answer(self, query: Any, filters: Filters = Filters(), k: int = 3, write: bool = True) -> Answer:
        """Retrieve k entries and, when ``write``, let SmolLM2 recommend one of them in a sentence."""
        need, notes = clean(query)
        entries = self.search(need, filters, k)
        if write and not INJECTION.search(need):  # an instruction to the model gets the ranked list only
            with self.llm_lock:
                best = int(self.pick(need, entries).argmax())
                why = self.reason(need, entries, best)
            unknown = cited_ids(why) - set(entries["id"])
            if not unknown and why:
                chosen = entries.iloc[best]
                others = [f"`{row['id']}` ({row['taught in']})" for row in entries.to_dict("records") if row["id"] != chosen["id"]]
                text = (f"**Try `{chosen['id']}`** because {why}\n\nTaught in {chosen['taught in']}."
                        + (f"\n\nAlso retrieved: {'; '.join(others)}." if others else ""))
                return Answer(text, entries, True, notes)
            if unknown:
                notes.append(f"SmolLM2's answer named {', '.join(sorted(unknown))}, which is not among the retrieved "
                             "entries, so it was dropped; here is the ranked list.")
        return Answer(ranked_list(entries, filters), entries, False, notes)


def ranked_list(entries: pd.DataFrame, filters: Filters) -> str:
    """The plain fallback answer: the retrieved ids in order, each with the chapter that teaches it."""
    lines = [f"{row['rank']}. `{row['id']}` ({row['task']}, {row['parameters']} parameters, {row['licence']}); "
             f"taught in {row['taught in']}" for row in entries.to_dict("records")]
    return f"Closest catalog entries ({filters.describe()}):\n\n" + "\n".join(lines)


def render(answer: Answer) -> str:
    """The answer as the app shows it: notes first, then the text."""
    return "\n\n".join([f"> {note}" for note in answer.notes] + [answer.text])


# -- evaluation on the course's query set ------------------------------------------------------------
def load_queries() -> list[dict[str, Any]]:
    """The labelled needs of data/finder/queries.yaml (each id checked against the catalog)."""
    queries = load_yaml("finder/queries.yaml")
    ids = set(catalog.models()["id"])
    for query in queries:
        missing = set(query["relevant"]) - ids
        if missing:
            raise FieldGuideError(f"data/finder/queries.yaml: {query['need']!r} names ids not in the catalog: {sorted(missing)}")
    return queries


def evaluate(finder: Finder, queries: list[dict[str, Any]], k: int = 3, use_filters: bool = True) -> pd.DataFrame:
    """One row per need: recall@k (share of min(k, #relevant) found in the top k) and reciprocal rank (top 10)."""
    rows = []
    for query in queries:
        filters = Filters(**query.get("filters", {})) if use_filters else Filters()
        ranked = list(finder.search(query["need"], filters, k=10)["id"])
        relevant = set(query["relevant"])
        hits = len(relevant & set(ranked[:k]))
        first = next((n for n, model_id in enumerate(ranked, 1) if model_id in relevant), None)
        rows.append({"need": query["need"], "task": query["task"], f"recall@{k}": hits / min(k, len(relevant)),
                     "RR": 1 / first if first else 0.0, "top": ranked[0]})
    return pd.DataFrame(rows)


def by_task(results: pd.DataFrame) -> pd.DataFrame:
    """Mean recall@3 and MRR per task, with the number of needs, and an 'all' row."""
    table = results.groupby("task").agg(needs=("need", "size"), recall_at_3=("recall@3", "mean"), MRR=("RR", "mean"))
    table.loc["all"] = [len(results), results["recall@3"].mean(), results["RR"].mean()]
    return table.astype({"needs": int}).round(2)


# -- the app -------------------------------------------------------------------------------------------
def _shown(handler: Any) -> Any:
    """``handler`` with FinderInputError turned into gr.Error: a message in the UI, no traceback in the log."""
    import functools
    import inspect

    import gradio as gr

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def stream(*args: Any) -> Iterator[Any]:
            try:
                yield from handler(*args)
            except FinderInputError as error:
                raise gr.Error(str(error), print_exception=False) from None
        return stream

    @functools.wraps(handler)
    def call(*args: Any) -> Any:
        try:
            return handler(*args)
        except FinderInputError as error:
            raise gr.Error(str(error), print_exception=False) from None
    return call


def build_app(finder: Finder) -> Any:
    """The gr.Blocks app: the finder, and one tab per course model. Bad input gets a message, never a traceback."""
    import gradio as gr

    tasks = sorted(t for t in finder.frame["pipeline_tag"].unique() if t != catalog.UNKNOWN)

    def find(query: str, task: str, licence: str, ungated: bool, max_params_m: float | None, runs_on: str):
        """Rank catalog models for a need (MiniLM only)."""
        found = finder.answer(query, Filters.from_ui(task, licence, ungated, max_params_m, runs_on), write=False)
        return render(found), found.entries

    def ask(query: str, task: str, licence: str, ungated: bool, max_params_m: float | None, runs_on: str):
        """Rank catalog models for a need, and let SmolLM2 recommend one of them."""
        found = finder.answer(query, Filters.from_ui(task, licence, ungated, max_params_m, runs_on), write=True)
        return render(found), found.entries

    def similarity(first: str, second: str) -> float:
        """Cosine similarity of two texts' MiniLM embeddings."""
        return finder.similarity(first, second)

    def generate(prompt: str, max_new_tokens: float = 48) -> Iterator[str]:
        """SmolLM2's reply, streamed as it is written."""
        yield from finder.stream(prompt, int(max_new_tokens))

    def transcribe(path: str | None) -> str:
        """English speech to text with Whisper tiny.en (CTranslate2)."""
        return finder.transcribe(path)

    with gr.Blocks(title="Field Guide model finder") as demo:
        gr.Markdown("# Which model should I use?\nDescribe what you need; the finder searches the Field Guide's "
                    f"catalog of {len(finder.frame)} Hub models and answers only with entries from it.")
        with gr.Tab("Finder"):
            query = gr.Textbox(label="What do you need?", lines=2, max_lines=6,
                               placeholder="e.g. transcribe German meetings on a laptop")
            with gr.Row():
                task = gr.Dropdown([ANY, *tasks], value=ANY, label="Task")
                licence = gr.Dropdown([ANY, *LICENCE_CLASSES], value=ANY, label="Licence class")
                runs_on = gr.Dropdown([ANY, *RUNS_ON], value=ANY, label="Runs on (weights fit)")
            with gr.Row():
                max_params = gr.Number(value=0, label="Max parameters (millions, 0 = any)", minimum=0)
                ungated = gr.Checkbox(label="Not gated (no licence acceptance on the Hub)")
            with gr.Row():
                find_button = gr.Button("Find models")
                ask_button = gr.Button("Find and explain (SmolLM2)", variant="primary")
            said = gr.Markdown()
            table = gr.Dataframe(label="Retrieved entries", interactive=False)
            inputs = [query, task, licence, ungated, max_params, runs_on]
            find_button.click(_shown(find), inputs, [said, table], api_name="find", concurrency_limit=4)
            ask_button.click(_shown(ask), inputs, [said, table], api_name="ask", concurrency_limit=1, concurrency_id="smollm2")
            gr.Examples([["transcribe German meetings on a laptop", ANY, ANY, False, 0, ANY],
                         ["embeddings for RAG with a commercial licence", ANY, "permissive", False, 0, ANY],
                         ["a chat model for a 2 GB machine", "text-generation", ANY, True, 0, "2 GB of RAM (Binder), CPU"]],
                        inputs)
        with gr.Tab("Similarity (MiniLM)"):
            first, second = gr.Textbox(label="First text"), gr.Textbox(label="Second text")
            score = gr.Number(label="Cosine similarity")
            gr.Button("Compare").click(_shown(similarity), [first, second], score, api_name="similarity", concurrency_limit=4)
        with gr.Tab("Generation (SmolLM2)"):
            prompt = gr.Textbox(label="Prompt", max_lines=6)
            tokens = gr.Slider(8, 128, value=48, step=8, label="Max new tokens")
            reply = gr.Textbox(label="Reply (streamed)")
            gr.Button("Generate").click(_shown(generate), [prompt, tokens], reply, api_name="generate",
                                        concurrency_limit=1, concurrency_id="smollm2")
        with gr.Tab("Speech to text (Whisper tiny.en)"):
            audio = gr.Audio(type="filepath", label="English speech (at most 60 s)")
            transcript = gr.Textbox(label="Transcript")
            gr.Button("Transcribe").click(_shown(transcribe), audio, transcript, api_name="transcribe", concurrency_limit=1)
    demo.queue(max_size=32)
    return demo


@contextlib.contextmanager
def serve(demo: Any, port: int | None = None) -> Iterator[str]:
    """Launch ``demo`` on 127.0.0.1 (a free port unless given) in the background; yield its URL; always close it."""
    lean_malloc()
    demo.launch(server_name="127.0.0.1", server_port=port or free_port(), prevent_thread_lock=True, quiet=True,
                inline=False, max_threads=8, footer_links=["api"])
    try:
        yield demo.local_url
    finally:
        demo.close(verbose=False)


def revisions() -> dict[str, str]:
    """The installed revision of each model the app runs (offline copies have their own)."""
    from fieldguide import setup

    env = setup(models=[MINILM, SMOLLM, WHISPER], quiet=True)
    return {model: env.revision(model) for model in (MINILM, SMOLLM, WHISPER)}


def main(host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the app until Ctrl-C (``python -m fieldguide app``)."""
    finder = Finder(revisions=revisions())
    finder.vectors  # embed the catalog before the first visitor
    demo = build_app(finder)
    print(f"The Field Guide model finder: http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    lean_malloc()
    try:
        demo.launch(server_name=host, server_port=port, quiet=True, max_threads=8, footer_links=["api"])
    finally:
        demo.close(verbose=False)
