"""Helpers for the serving chapter (notebooks/15-serving): the decode speed limit, faster CPU paths,
MiniLM in ONNX Runtime, a small validating gateway in front of ``transformers serve``, a bounded
load test, and the reference page's tables (book/deployment.md).

``python -m fieldguide.chapters.serving bench`` measures the decode paths with more tokens than the
notebook and writes data/serving/benchmark.json; ``... gateway`` runs the gateway as a process.
Everything is offline and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from fieldguide import kit
from fieldguide.environment import release_memory  # noqa: F401  (the chapter calls serving.release_memory)
from fieldguide.network import free_port  # noqa: F401  (the chapter calls serving.free_port)
from fieldguide.resources import data_path, load_yaml

SMOLLM = "HuggingFaceTB/SmolLM2-135M-Instruct"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CACHE = Path(os.environ.get("FIELDGUIDE_SERVING_CACHE", Path(tempfile.gettempdir()) / "fieldguide-serving"))
BENCHMARK = data_path("serving/benchmark.json")  # the checkout's, or the installed package's (Colab)
PROMPTS = (
    "What is the capital of France?",
    "Name three colours of the rainbow.",
    "What do bees make?",
)
# Written for the course; never seen by the model in training as such. Used for perplexity.
HELD_OUT = (
    "A language model reads its weights from memory once for every token it writes. On a laptop "
    "the processor can multiply numbers much faster than memory can deliver them, so the speed of "
    "writing text is set by how many bytes the weights take and how fast memory can move them. "
    "Storing each weight in one byte instead of four moves a quarter of the data."
)


# --- 1. The speed limit -------------------------------------------------------------------------

def read_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """Memory read bandwidth in GB/s: the best of ``repeats`` sums over a ``megabytes`` fp32 tensor."""
    import torch

    data = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - start)
    return data.numel() * 4 / best / 1e9


def bytes_per_token(model: Any, bytes_per_weight: float | None = None) -> int:
    """Bytes a decode step reads: every Linear weight (the LM head included) and the norms.

    The embedding table is read one row per token, so it counts only where it is tied to the LM
    head (read in full there). ``bytes_per_weight`` overrides the stored dtype (e.g. 1 for int8).
    """
    import torch

    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            continue
        for parameter in module.parameters(recurse=False):
            size = bytes_per_weight if bytes_per_weight and parameter.dim() == 2 else parameter.element_size()
            total += int(parameter.numel() * size)
    return total


def bound(bandwidth_gbs: float, nbytes: int) -> float:
    """The decode speed limit in tokens/s: bandwidth / bytes read per token."""
    return bandwidth_gbs * 1e9 / nbytes


# --- 2. Faster paths ------------------------------------------------------------------------------

def chat_ids(tokenizer: Any, prompt: str) -> Any:
    """The chat-templated input ids of one user ``prompt`` (1 x n tensor)."""
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)["input_ids"]


def torch_decoder(model: Any) -> Callable[[list[int], int], list[int]]:
    """Greedy decoding with a transformers model: (prompt ids, n) -> exactly n new ids."""
    import torch

    def decode(ids: list[int], n: int) -> list[int]:
        with torch.inference_mode():
            out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False)
        return out[0, len(ids):].tolist()
    return decode


def ct2_decoder(generator: Any, tokenizer: Any) -> Callable[[list[int], int], list[int]]:
    """Greedy decoding with a CTranslate2 generator: (prompt ids, n) -> exactly n new ids."""
    def decode(ids: list[int], n: int) -> list[int]:
        tokens = tokenizer.convert_ids_to_tokens(ids)
        result = generator.generate_batch([tokens], max_length=n, min_length=n, sampling_topk=1,
                                          include_prompt_in_result=False)
        return list(result[0].sequences_ids[0])
    return decode


def agreement(reference: list[list[int]], other: list[list[int]]) -> float:
    """Share of greedy tokens that agree with the reference, position by position."""
    same = sum(a == b for ref, oth in zip(reference, other) for a, b in zip(ref, oth))
    return same / sum(len(ref) for ref in reference)


def torch_perplexity(model: Any, tokenizer: Any, text: str = HELD_OUT) -> float:
    """Perplexity of ``text`` under a transformers causal LM."""
    import torch

    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        loss = model(ids, labels=ids).loss
    return float(torch.exp(loss.float()))


def ct2_perplexity(generator: Any, tokenizer: Any, text: str = HELD_OUT) -> float:
    """Perplexity of ``text`` under a CTranslate2 generator (``score_batch`` log-probabilities)."""
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    scores = generator.score_batch([tokens])[0].log_probs
    return float(np.exp(-np.mean(scores)))


def int8_dynamic(model: Any) -> Any:
    """``model`` with every Linear layer replaced, in place, by an int8 one (PyTorch dynamic quantization).

    In place, so that fp32 and int8 copies are never in memory together: the fp32 model is consumed.
    ``torch.ao.quantization.quantize_dynamic`` is deprecated in favour of torchao but still ships
    with torch 2.13 and needs no extra package; its deprecation warnings are silenced here.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def measure_path(decode: Callable[[list[int], int], list[int]], nbytes: int, bandwidth_gbs: float,
                 prompt_ids: list[list[int]], perplexity: float, tokens: int = 16, greedy: int = 8) -> dict[str, Any]:
    """One decode path: tokens/s on ``tokens`` new tokens after a one-token warm-up (prompt included
    in the time), its bound and share of it, its perplexity, and its ``greedy`` first tokens on
    every prompt (the timed run gives the first prompt's)."""
    decode(prompt_ids[0], 1)
    start = time.perf_counter()
    first = decode(prompt_ids[0], tokens)
    speed = tokens / (time.perf_counter() - start)
    limit = bound(bandwidth_gbs, nbytes)
    return {"tokens/s": speed, "MB per token": nbytes / 1e6, "bound tokens/s": limit, "share of bound": speed / limit,
            "perplexity": perplexity, "greedy": [first[:greedy]] + [decode(ids, greedy) for ids in prompt_ids[1:]]}


def ct2_model(model_dir: str | Path, revision: str) -> tuple[Path, float]:
    """Convert the SmolLM2 folder to CTranslate2 once, weights kept in fp32 (cached under CACHE);
    (folder, seconds spent). One conversion serves every path: ``Generator(..., compute_type=...)``
    quantizes the weights as it loads them ("int8"), or keeps them ("float32")."""
    import ctranslate2

    out = CACHE / f"smollm2-{revision[:12]}-ct2"
    if (out / "model.bin").exists():
        return out, 0.0
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    ctranslate2.converters.TransformersConverter(str(model_dir)).convert(str(out), force=True)
    return out, time.perf_counter() - start


def ct2_generator(folder: str | Path, compute_type: str) -> Any:
    """A CTranslate2 generator on the CPU with the course's thread count (torch's)."""
    import ctranslate2
    import torch

    return ctranslate2.Generator(str(folder), device="cpu", compute_type=compute_type, intra_threads=torch.get_num_threads())


# --- 3. Embeddings in ONNX Runtime ------------------------------------------------------------------

def export_minilm(model_dir: str | Path, revision: str) -> tuple[Path, Path]:
    """MiniLM's transformer as ONNX (fp32) and its dynamic int8 copy, cached under CACHE.

    Weights are quantized per output channel (uint8): per-tensor int8 moved some MiniLM vectors to
    a cosine of 0.94 with fp32 here, per channel kept them above 0.98.

    Optimum's exporter is not installable beside transformers 5 here, so this uses
    ``torch.onnx.export`` (TorchScript exporter) with dynamic batch and sequence axes; pooling
    and normalisation stay in NumPy (``encode``).
    """
    fp32 = CACHE / f"minilm-{revision[:12]}" / "model.onnx"
    int8 = fp32.with_name("model-int8.onnx")
    if not fp32.exists():
        import torch
        from transformers import AutoModel

        fp32.parent.mkdir(parents=True, exist_ok=True)
        bert = AutoModel.from_pretrained(model_dir).eval()

        class Encoder(torch.nn.Module):  # keyword arguments in, the last hidden state out
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        model = Encoder()
        dummy = (torch.ones(1, 8, dtype=torch.long), torch.ones(1, 8, dtype=torch.long))
        axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                "last_hidden_state": {0: "batch", 1: "seq"}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, dummy, str(fp32), input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QUInt8)
    return fp32, int8


def onnx_session(path: str | Path, threads: int = 2, arena: bool = False) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads.

    By default without ONNX Runtime's memory arena (``enable_cpu_mem_arena``, on in ONNX Runtime's
    own default). The arena keeps the largest batch's buffers for the session's life, and here the
    process did not get them back even after the session was deleted: with it, this chapter's
    embedding table left about 300 MB resident for good. Without it, buffers are freed after each
    run, for a few percent of speed.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_cpu_mem_arena = arena
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def encode(session: Any, tokenizer: Any, texts: list[str], max_length: int = 256) -> np.ndarray:
    """Sentence vectors from an ONNX session, like sentence-transformers' MiniLM: mean pooling over
    tokens, unit length."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    mask = batch["attention_mask"].astype(np.int64)
    hidden = session.run(None, {"input_ids": batch["input_ids"].astype(np.int64), "attention_mask": mask})[0]
    return _mean_pooled(hidden, mask)


def torch_encode(model: Any, tokenizer: Any, texts: list[str], max_length: int = 256) -> np.ndarray:
    """The same sentence vectors from the PyTorch model (``AutoModel``): what sentence-transformers
    computes for MiniLM, without importing it (its imports alone take about 200 MB)."""
    import torch

    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return _mean_pooled(hidden.numpy(), batch["attention_mask"].numpy())


def timed_embed(embed: Callable[[list[str]], Any], texts: list[str], batch: int) -> tuple[np.ndarray, float]:
    """``texts`` embedded in batches of ``batch`` after one warm-up batch: (the vectors, sentences/s)."""
    embed(texts[:batch])
    start = time.perf_counter()
    vectors = np.concatenate([np.asarray(embed(texts[i:i + batch])) for i in range(0, len(texts), batch)])
    return vectors, len(texts) / (time.perf_counter() - start)


def retrieval_scores(query_vectors: np.ndarray, doc_vectors: np.ndarray, ids: list[str],
                     queries: list[dict[str, Any]]) -> dict[str, float]:
    """recall@1/3/5 and MRR of a search over ``doc_vectors``, scored as in chapter 04."""
    order = np.argsort(-(query_vectors @ doc_vectors.T), axis=1)
    ranked = [[ids[i] for i in row] for row in order]
    scores = {f"recall@{k}": np.mean([len(set(r[:k]) & set(q["relevant"])) / len(q["relevant"])
                                      for r, q in zip(ranked, queries)]) for k in (1, 3, 5)}
    # a label the catalog no longer lists can never be found: it counts as a miss, not an error
    scores["MRR"] = np.mean([1 / (1 + min((r.index(m) for m in q["relevant"] if m in r), default=np.inf))
                             for r, q in zip(ranked, queries)])
    return {name: float(value) for name, value in scores.items()}


# --- 4. Serving -------------------------------------------------------------------------------------

class _Service:
    """What both kinds of server share: a bounded wait for ``url`` to answer 200, and ``with`` blocks
    that stop the server at their end, also when they raise."""

    url: str
    timeout_s: float

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def _wait(self, alive: Callable[[], bool], died: Callable[[], str]) -> None:
        """Poll ``url`` until it answers; stop the server and raise if it dies or ``timeout_s`` passes."""
        deadline = time.monotonic() + self.timeout_s
        try:
            while not self._ready():
                if not alive():
                    raise RuntimeError(died())
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.url} did not answer within {self.timeout_s} s")
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> int | None:
        raise NotImplementedError

    def __enter__(self) -> "_Service":
        return self.start()  # type: ignore[attr-defined]

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Server(_Service):
    """A server process on 127.0.0.1 that is always stopped: by ``stop()``, at the end of a ``with``
    block (also when it raises), at interpreter exit, and (Linux) when this process dies.

    ``start()`` waits until ``url`` answers 200, polling for at most ``timeout_s`` seconds.
    """

    def __init__(self, command: list[str], url: str, timeout_s: float = 300) -> None:
        self.command, self.url, self.timeout_s = command, url, timeout_s
        self.log = CACHE / f"server-{time.time_ns()}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        from fieldguide.kit import _end_with_parent

        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT,
                                            preexec_fn=_end_with_parent if sys.platform.startswith("linux") else None)
        atexit.register(self.stop)
        process = self.process
        self._wait(lambda: process.poll() is None,
                   lambda: f"server exited with {process.returncode}:\n{self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> int | None:
        """Terminate, wait up to 10 s, then kill; the exit code (None if never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class InProcessServer(_Service):
    """An ASGI app (e.g. ``gateway_app``) served by uvicorn on a thread of this process, on
    127.0.0.1:``port``; ``/health`` must answer 200. No second Python process, so no second copy of
    the libraries in memory; it ends with this process, and is stopped like ``Server``: ``stop()``,
    ``with``, interpreter exit."""

    def __init__(self, app: Any, port: int, timeout_s: float = 60) -> None:
        import uvicorn

        self.url, self.timeout_s = f"http://127.0.0.1:{port}/health", timeout_s
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self._thread: threading.Thread | None = None

    def start(self) -> "InProcessServer":
        self._thread = threading.Thread(target=self._server.run, name="fieldguide-gateway", daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        thread = self._thread
        self._wait(thread.is_alive, lambda: f"the server on {self.url} stopped while starting (is the port taken?)")
        return self

    def stop(self) -> int | None:
        """Ask uvicorn to finish, wait up to 10 s; 0 once the thread has ended (None if never started)."""
        if self._thread is None:
            return None
        self._server.should_exit = True
        self._thread.join(timeout=10)
        return None if self._thread.is_alive() else 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def stop_when_a_cell_fails(*servers: _Service) -> bool:
    """In IPython or Jupyter, stop ``servers`` as soon as a later cell raises; False outside IPython.

    This adds to ``Server``'s own guarantees (``with``, interpreter exit, death of the kernel) for
    servers that must outlive one cell: a failed cell does not leave them running until the end.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False

    def check(result: Any) -> None:
        if not result.success:
            for server in servers:
                server.stop()
            shell.events.unregister("post_run_cell", check)
    shell.events.register("post_run_cell", check)
    return True


@contextlib.contextmanager
def local_requests_allowed() -> Iterator[None]:
    """Let huggingface_hub's clients (``InferenceClient``) reach a local server while HF_HUB_OFFLINE=1.

    In offline mode huggingface_hub refuses every request of its HTTP session, even to 127.0.0.1
    (``OfflineModeIsEnabled``). This lifts its flag for the block only; use it around calls to
    your own server, nothing else.
    """
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def resident_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """Resident memory of a process in MB, now (``VmRSS``) or its peak (``VmHWM``) (Linux ``/proc``; NaN elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def proportional_mb(pid: int | str = "self") -> float:
    """A process's proportional set size (PSS) in MB: its own pages, plus its share of the pages it
    shares with others (each shared library counts once across all the processes that map it).
    Linux ``/proc/PID/smaps_rollup``; the resident size (``resident_mb``) where that is missing."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resident_mb(pid)


class MemoryWatch:
    """The peak memory of this process and ``servers``' processes together, sampled every
    ``interval`` seconds on a thread between ``start()`` and ``stop()``, in MB.

    Each process's own peak is kept by the operating system, but a machine's limit meets their sum,
    which only sampling sees. The sum is of proportional set sizes (``proportional_mb``): a library
    that both processes map (torch) is one copy in memory, and resident sizes would count it twice.
    """

    def __init__(self, *servers: Server, interval: float = 0.5) -> None:
        self.servers, self.interval = servers, interval
        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="fieldguide-memory-watch", daemon=True)

    def total_mb(self) -> float:
        """This process's memory plus that of every running server's process, now (PSS, MB)."""
        pids = ["self"] + [server.process.pid for server in self.servers if server.running and server.process]
        return sum(mb for mb in map(proportional_mb, pids) if mb == mb)  # NaN (a process just gone) counts 0

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak_mb = max(self.peak_mb, self.total_mb())
            self._done.wait(self.interval)

    def start(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._done.set()
        self._thread.join()
        return self.peak_mb


def transformers_serve(model: str, port: int, dtype: str = "float32") -> list[str]:
    """The ``transformers serve`` command line for ``model`` on 127.0.0.1:``port``."""
    cli = Path(sys.executable).with_name("transformers")
    return [str(cli), "serve", model, "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype]


def gateway_command(port: int, upstream: str, upstream_model: str | None = None) -> list[str]:
    """The command line of this module's gateway on 127.0.0.1:``port``, in front of ``upstream``."""
    served = ["--upstream-model", upstream_model] if upstream_model else []
    return [sys.executable, "-m", "fieldguide.chapters.serving", "gateway", "--port", str(port), "--upstream", upstream, *served]


def post(url: str, body: dict[str, Any], timeout: float = 120) -> tuple[int, dict[str, Any]]:
    """POST JSON; (status, parsed JSON answer), also for 4xx/5xx answers."""
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            return error.code, json.loads(text)
        except json.JSONDecodeError:
            return error.code, {"detail": text}


def load_test(url: str, body: dict[str, Any], clients: int, requests: int = 8, timeout: float = 120) -> dict[str, float]:
    """``requests`` identical chat requests from ``clients`` threads: p50/p95 latency, tokens/s, errors."""
    def one(_: int) -> tuple[float, int, bool]:
        start = time.perf_counter()
        try:
            status, answer = post(url, body, timeout)
        except (OSError, ValueError):
            return time.perf_counter() - start, 0, False
        ok = status == 200
        return time.perf_counter() - start, answer.get("usage", {}).get("completion_tokens", 0) if ok else 0, ok

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - start
    latencies = sorted(latency for latency, _, _ in results)
    return {"clients": clients, "requests": requests,
            "p50 s": statistics.median(latencies),
            "p95 s": latencies[min(len(latencies) - 1, int(np.ceil(0.95 * len(latencies))) - 1)],
            "tokens/s": sum(tokens for _, tokens, _ in results) / wall,
            "errors": sum(not ok for _, _, ok in results)}


def gateway_app(upstream: str, model: str = SMOLLM, upstream_model: str | None = None,
                embedder: tuple[Any, Any] | None = None) -> Any:
    """A FastAPI app: OpenAI-style /v1/embeddings (MiniLM int8 in ONNX Runtime) and a validating
    /v1/chat/completions that forwards good requests to ``upstream`` (``transformers serve``).

    Bad requests get a 4xx answer with a message before they reach the model: no messages (422),
    an unknown model (404), a prompt that does not fit the context window (400).

    Clients name the chat model by its Hub id, ``model``; where the upstream serves it under another
    name (``upstream_model``, e.g. the folder of a local bf16 copy), requests are forwarded under that
    name and answers come back under the Hub id, as vLLM's ``--served-model-name`` does.
    ``embedder`` is an (ONNX session, tokenizer) pair to reuse; by default the int8 MiniLM is loaded
    at the first embeddings request.
    """
    import httpx
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from huggingface_hub import snapshot_download
    from pydantic import BaseModel, Field
    # the fast tokenizer class and the raw config, not AutoTokenizer/AutoConfig, which import torch:
    # the gateway stays a few hundred MB lighter
    from transformers import PreTrainedTokenizerFast

    chat_dir = snapshot_download(model, revision=kit.require(model)[0].revision)
    chat_tokenizer = PreTrainedTokenizerFast.from_pretrained(chat_dir)
    context = json.loads((Path(chat_dir) / "config.json").read_text(encoding="utf-8"))["max_position_embeddings"]
    served = upstream_model or model

    @cache
    def minilm() -> tuple[Any, Any]:  # the given pair, or loaded on the first embeddings request
        if embedder is not None:
            return embedder
        minilm_revision = kit.require(MINILM)[0].revision
        minilm_dir = snapshot_download(MINILM, revision=minilm_revision)
        return onnx_session(export_minilm(minilm_dir, minilm_revision)[1], threads=1), PreTrainedTokenizerFast.from_pretrained(minilm_dir)

    app = FastAPI(title="fieldguide gateway")

    class Message(BaseModel):
        role: str
        content: str

    class Chat(BaseModel):
        model: str
        messages: list[Message] = Field(min_length=1)
        max_tokens: int = Field(default=64, ge=1, le=1024)
        stream: bool = False

    class Embed(BaseModel):
        model: str
        input: str | list[str] = Field(min_length=1)

    def renamed(answer: Any) -> Any:
        if isinstance(answer, dict) and answer.get("model") == served:
            answer["model"] = model
        return answer

    def health() -> dict[str, str]:
        return {"status": "ok"}

    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model, "object": "model"}, {"id": MINILM, "object": "model"}]}

    def embeddings(body: Embed) -> dict[str, Any]:
        if body.model != MINILM:
            raise HTTPException(404, f"model {body.model!r} is not served here; try {MINILM!r}")
        texts = [body.input] if isinstance(body.input, str) else body.input
        if len(texts) > 64:
            raise HTTPException(413, f"{len(texts)} inputs; at most 64 per request")
        vectors = encode(*minilm(), texts)
        return {"object": "list", "model": MINILM,
                "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]}

    async def chat(body: Chat, request: Request) -> Any:
        if body.model != model:
            raise HTTPException(404, f"model {body.model!r} is not served here; try {model!r}")
        prompt = chat_tokenizer.apply_chat_template([m.model_dump() for m in body.messages], add_generation_prompt=True,
                                                    return_dict=True)["input_ids"]
        if len(prompt) + body.max_tokens > context:
            raise HTTPException(400, f"prompt of {len(prompt)} tokens + max_tokens {body.max_tokens} exceeds the context of {context}")
        payload = {**await request.json(), "model": served}
        client = httpx.AsyncClient(base_url=upstream, timeout=300)
        if not body.stream:
            async with client:
                answer = await client.post("/v1/chat/completions", json=payload)
            return JSONResponse(renamed(answer.json()), status_code=answer.status_code)

        async def relay() -> Any:  # server-sent events, a line at a time, each chunk renamed
            async with client, client.stream("POST", "/v1/chat/completions", json=payload) as answer:
                async for line in answer.aiter_lines():
                    if line.startswith("data: {"):
                        line = "data: " + json.dumps(renamed(json.loads(line[6:])))
                    yield line + "\n"
        return StreamingResponse(relay(), media_type="text/event-stream")

    # This module's annotations are strings (PEP 563) that FastAPI cannot resolve for local
    # classes: give the two routes their real types, so the bodies are parsed and validated.
    embeddings.__annotations__.update(body=Embed)
    chat.__annotations__.update(body=Chat, request=Request)
    app.get("/health")(health)
    app.get("/v1/models")(models)
    app.post("/v1/embeddings")(embeddings)
    app.post("/v1/chat/completions")(chat)
    return app


# --- The reference page ---------------------------------------------------------------------------

def _sourced(name: str, first: str, columns: list[str]) -> tuple[list[str], list[list[Any]]]:
    """data/serving/NAME.yaml as (header, rows): each row's name linked to its source, then ``columns``."""
    rows = load_yaml(f"serving/{name}.yaml")
    return ([first] + [c.replace("_", " ") for c in columns],
            [[f"[{r['name']}]({r['source']})"] + [r[c] for c in columns] for r in rows])


def _recipes() -> tuple[list[str], list[list[Any]]]:
    """The brief's jobs (data/serving/recipes.yaml): catalog models, serving choice, chapters."""
    return (["job", "catalog models", "serve with", "chapters"],
            [[r["job"], ", ".join(f"`{m}`" for m in r["models"]), r["serve"],
              ", ".join(f"[{c}](../notebooks/{c}.ipynb)" for c in r["chapters"])] for r in load_yaml("serving/recipes.yaml")])


def _benchmark() -> tuple[str, list[str], list[list[Any]]]:
    """The last recorded benchmark (data/serving/benchmark.json): (a line on where and when, header, rows)."""
    bench = json.loads(BENCHMARK.read_text(encoding="utf-8"))
    where = (f"Recorded {bench['date']} on {bench['machine']} (read bandwidth {bench['bandwidth_gbs']:.1f} GB/s, "
             f"{bench['tokens']} new tokens per path):\n\n")
    return (where, ["path", "tokens/s", "MB read per token", "bound tokens/s", "share of bound", "× fp32", "perplexity"],
            [[p["path"], f"{p['tokens_per_s']:.1f}", f"{p['bytes_per_token'] / 1e6:.0f}", f"{p['bound']:.0f}",
              f"{p['share']:.0%}", f"{p['speedup']:.2f}", f"{p['perplexity']:.2f}"] for p in bench["paths"]])


def deployment_page() -> str:
    """book/deployment.md: the prose of data/serving/deployment.md.in with its {{table}} markers
    filled from data/serving/ (serving options, formats, recipes, the recorded benchmark)."""
    from fieldguide.pages import GENERATED, markdown_table  # here, not at import: pages imports pandas

    where, *benchmark = _benchmark()
    tables = {
        "options": markdown_table(*_sourced("serving-options", "option", ["runs", "hardware", "batching", "quantization",
                                                                         "openai_compatible", "licence"])),
        "formats": markdown_table(*_sourced("formats", "format", ["kind", "bits", "memory", "quality", "runs_in"])),
        "recipes": markdown_table(*_recipes()),
        "benchmark": where + markdown_table(*benchmark),
    }
    text = data_path("serving/deployment.md.in").read_text(encoding="utf-8")
    for name, table in tables.items():
        text = text.replace("{{" + name + "}}", table)
    return GENERATED + text


# --- The benchmark command ------------------------------------------------------------------------

def benchmark(tokens: int = 128) -> dict[str, Any]:
    """Decode speed of every path on the same weights, in one run, with bounds and perplexity."""
    import torch
    from huggingface_hub import snapshot_download
    from transformers import AutoModelForCausalLM, AutoTokenizer

    revision = kit.require(SMOLLM)[0].revision
    folder = snapshot_download(SMOLLM, revision=revision)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    fp32 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    bandwidth = read_bandwidth()
    ids = chat_ids(tokenizer, PROMPTS[0])[0].tolist()
    ct2_dir, _ = ct2_model(folder, revision)
    prompt_ids = [ids]
    # one path at a time, each freed before the next, bf16 loaded only once fp32 is gone (as in the notebook)
    fp32_bytes, int8_bytes = bytes_per_token(fp32), bytes_per_token(fp32, 1)
    rows = [{"path": "transformers fp32", **measure_path(torch_decoder(fp32), fp32_bytes, bandwidth, prompt_ids,
                                                         torch_perplexity(fp32, tokenizer), tokens)}]
    int8 = int8_dynamic(fp32)
    del fp32
    rows.append({"path": "torch dynamic int8", **measure_path(torch_decoder(int8), int8_bytes, bandwidth, prompt_ids,
                                                              torch_perplexity(int8, tokenizer), tokens)})
    del int8
    bf16 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    rows.append({"path": "transformers bf16", **measure_path(torch_decoder(bf16), bytes_per_token(bf16), bandwidth, prompt_ids,
                                                             torch_perplexity(bf16, tokenizer), tokens)})
    del bf16
    for name, compute_type, nbytes in (("CTranslate2 fp32", "float32", fp32_bytes), ("CTranslate2 int8", "int8", int8_bytes)):
        generator = ct2_generator(ct2_dir, compute_type)
        rows.append({"path": name, **measure_path(ct2_decoder(generator, tokenizer), nbytes, bandwidth, prompt_ids,
                                                  ct2_perplexity(generator, tokenizer), tokens)})
        del generator
        release_memory()
    rows = [{"path": r["path"], "tokens_per_s": r["tokens/s"], "bytes_per_token": round(r["MB per token"] * 1e6),
             "bound": r["bound tokens/s"], "share": r["share of bound"], "perplexity": r["perplexity"]} for r in rows]
    for row in rows:
        row["speedup"] = row["tokens_per_s"] / rows[0]["tokens_per_s"]
    return {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}",
            "bandwidth_gbs": bandwidth, "tokens": tokens, "model": SMOLLM, "revision": revision, "paths": rows}


def main(argv: list[str] | None = None) -> int:
    """``bench [--tokens N] [--out PATH]`` or ``gateway --port P --upstream URL [--upstream-model NAME]``."""
    parser = argparse.ArgumentParser(prog="python -m fieldguide.chapters.serving")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="measure the decode paths; write a JSON")
    bench.add_argument("--tokens", type=int, default=128)
    bench.add_argument("--out", type=Path, default=BENCHMARK)
    gate = sub.add_parser("gateway", help="serve embeddings and validate chat requests in front of transformers serve")
    gate.add_argument("--port", type=int, required=True)
    gate.add_argument("--upstream", required=True)
    gate.add_argument("--upstream-model", help="the name the upstream serves the chat model under (default: its Hub id)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        result = benchmark(args.tokens)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(result, indent=2))
        return 0
    import uvicorn

    uvicorn.run(gateway_app(args.upstream, upstream_model=args.upstream_model), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
