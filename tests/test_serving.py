"""The serving chapter's helpers (fieldguide/chapters/serving.py) and the deployment page's data."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from fieldguide import FieldGuideError, catalog, kit, pages
from fieldguide.chapters import serving
from fieldguide.resources import load_yaml


def _tiny_llama(tied: bool):
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
    return transformers.LlamaForCausalLM(config)


@pytest.mark.parametrize("tied", [True, False])
def test_bytes_per_token_counts_every_linear_weight_and_the_head_once(tied):
    model = _tiny_llama(tied)
    # per layer: q 16x16, k and v 8x16 each, o 16x16, gate/up 32x16, down 16x32, two norms of 16
    per_layer = 16 * 16 * 2 + 8 * 16 * 2 + 32 * 16 * 3 + 16 * 2
    weights = 2 * per_layer + 16 + 100 * 16  # final norm, LM head (the embedding table is read one row a token)
    assert serving.bytes_per_token(model) == 4 * weights
    linear = 2 * (16 * 16 * 2 + 8 * 16 * 2 + 32 * 16 * 3) + 100 * 16
    assert serving.bytes_per_token(model, 1) == linear + 4 * (weights - linear)


def test_bound_and_agreement_arithmetic():
    assert serving.bound(29.0, 538_000_000) == pytest.approx(53.9, abs=0.1)
    assert serving.agreement([[1, 2, 3, 4]], [[1, 2, 9, 4]]) == 0.75


def test_retrieval_scores_match_chapter_04s_definitions():
    import numpy as np

    docs = np.eye(3)
    queries = [{"relevant": ["b"]}, {"relevant": ["a", "c"]}]
    query_vectors = np.array([[0.1, 1.0, 0.0], [0.0, 0.2, 1.0]])
    scores = serving.retrieval_scores(query_vectors, docs, ["a", "b", "c"], queries)
    assert scores["recall@1"] == pytest.approx((1 + 0.5) / 2)
    assert scores["MRR"] == pytest.approx(1.0)


def _http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_server_waits_for_readiness_and_is_stopped_when_the_block_raises(tmp_path):
    port = serving.free_port()
    server = serving.Server(_http_server(port), f"http://127.0.0.1:{port}/", timeout_s=60)
    with pytest.raises(RuntimeError, match="a cell failed"):
        with server:
            assert server.running
            raise RuntimeError("a cell failed")
    assert not server.running and server.process.returncode is not None


def test_a_failing_cell_stops_the_servers_registered_in_ipython():
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactiveshell.InteractiveShell.instance()
    port = serving.free_port()
    server = serving.Server(_http_server(port), f"http://127.0.0.1:{port}/", timeout_s=60).start()
    try:
        shell.user_ns["serving"], shell.user_ns["server"] = serving, server
        assert shell.run_cell("serving.stop_when_a_cell_fails(server)").result is True
        shell.run_cell("x = 1")
        assert server.running  # a cell that succeeds leaves it alone
        shell.run_cell("raise RuntimeError('a cell failed')")
        assert not server.running and server.process.returncode is not None
    finally:
        server.stop()
        interactiveshell.InteractiveShell.clear_instance()


def test_server_that_never_answers_times_out_and_is_stopped():
    port = serving.free_port()
    server = serving.Server([sys.executable, "-c", "import time; time.sleep(60)"], f"http://127.0.0.1:{port}/", timeout_s=1)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        server.start()
    assert not server.running and time.monotonic() - start < 30


def test_server_that_exits_reports_its_log():
    server = serving.Server([sys.executable, "-c", "print('no model here'); raise SystemExit(3)"], "http://127.0.0.1:9/", timeout_s=30)
    with pytest.raises(RuntimeError, match="no model here"):
        server.start()


def test_load_test_counts_errors_against_a_server_that_refuses_posts():
    port = serving.free_port()
    with serving.Server(_http_server(port), f"http://127.0.0.1:{port}/", timeout_s=60):
        result = serving.load_test(f"http://127.0.0.1:{port}/v1/chat/completions", {"x": 1}, clients=2, requests=4, timeout=10)
    assert result["requests"] == 4 and result["errors"] == 4 and result["tokens/s"] == 0


@pytest.fixture(scope="module")
def gateway_revision_installed():
    pytest.importorskip("fastapi")
    try:
        kit.require(serving.SMOLLM)
    except FieldGuideError:
        pytest.skip("SmolLM2 is not installed")


@pytest.fixture(scope="module")
def gateway(gateway_revision_installed):
    from fastapi.testclient import TestClient

    return TestClient(serving.gateway_app("http://127.0.0.1:9"))  # a dead upstream: only refusals are tested


@pytest.mark.parametrize("body, status, words", [
    ({"model": serving.SMOLLM, "messages": []}, 422, "at least 1"),
    ({"model": "nobody/nothing", "messages": [{"role": "user", "content": "hi"}]}, 404, "not served"),
    ({"model": serving.SMOLLM, "messages": [{"role": "user", "content": "word " * 9000}]}, 400, "exceeds the context"),
    ({"model": serving.SMOLLM, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 422, "greater than"),
])
def test_gateway_refuses_bad_chat_requests_with_a_4xx_and_a_message(gateway, body, status, words):
    answer = gateway.post("/v1/chat/completions", json=body)
    assert answer.status_code == status
    assert words in answer.text


def test_gateway_refuses_unknown_embedding_models(gateway):
    answer = gateway.post("/v1/embeddings", json={"model": "nobody/nothing", "input": "hi"})
    assert answer.status_code == 404 and "not served" in answer.text
    assert gateway.post("/v1/embeddings", json={"model": serving.MINILM, "input": []}).status_code == 422


def test_serving_tables_have_sources_and_every_recipe_model_is_in_the_catalog():
    options = load_yaml("serving/serving-options.yaml")
    names = {o["name"] for o in options}
    for wanted in ("Inference Providers", "Inference Endpoints", "vLLM", "SGLang", "CTranslate2", "TensorRT-LLM", "transformers serve"):
        assert wanted in names
    for row in options + load_yaml("serving/formats.yaml"):
        assert row["source"].startswith("https://"), row["name"]
        assert all(str(value).strip() for value in row.values()), row["name"]
    ids = set(catalog.models()["id"])
    for recipe in load_yaml("serving/recipes.yaml"):
        assert set(recipe["models"]) <= ids, recipe["job"]


def test_deployment_page_is_generated_and_current():
    assert "../deployment.md" in pages.PAGES
    assert "../deployment.md" not in pages.stale()
    assert "{{" not in serving.deployment_page()


def test_benchmark_record_is_complete():
    import json

    bench = json.loads(serving.BENCHMARK.read_text(encoding="utf-8"))
    paths = {p["path"]: p for p in bench["paths"]}
    assert set(paths) == {"transformers fp32", "transformers bf16", "torch dynamic int8", "CTranslate2 fp32", "CTranslate2 int8"}
    for row in paths.values():
        assert row["share"] == pytest.approx(row["tokens_per_s"] / row["bound"])
        assert 0 < row["share"] < 1.5  # a path cannot beat the memory bound by much (caches help a little)
    # the same weights and arithmetic in another runtime: the same perplexity, the same bytes
    assert paths["CTranslate2 fp32"]["perplexity"] == pytest.approx(paths["transformers fp32"]["perplexity"], rel=0.005)
    assert paths["CTranslate2 fp32"]["bytes_per_token"] == paths["transformers fp32"]["bytes_per_token"]
    # chapter 15 says the aim (2x fp32 within 5% perplexity) is met in the recorded benchmark: a record
    # that no longer shows it needs the prose changed too (a check of the committed data, not a timing)
    assert paths["CTranslate2 fp32"]["speedup"] >= 2


def test_chapter_module_cli_help_runs():
    out = subprocess.run([sys.executable, "-m", "fieldguide.chapters.serving", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "bench" in out.stdout and "gateway" in out.stdout


def test_in_process_server_answers_and_is_stopped_when_the_block_raises():
    pytest.importorskip("fastapi")
    from fastapi import FastAPI

    app = FastAPI()
    app.get("/health")(lambda: {"status": "ok"})
    server = serving.InProcessServer(app, serving.free_port())
    with pytest.raises(RuntimeError, match="a cell failed"):
        with server:
            assert server.running and serving.post(server.url.replace("/health", "/nothing"), {})[0] == 404
            raise RuntimeError("a cell failed")
    assert not server.running and server.stop() == 0


def test_gateway_forwards_under_the_served_name_and_answers_under_the_hub_id(gateway_revision_installed):
    """The upstream serves the model under a folder name; clients see only the Hub id, also when streaming."""
    from fastapi import FastAPI, Request
    from fastapi.responses import StreamingResponse
    from fastapi.testclient import TestClient

    upstream, seen = FastAPI(), []

    async def chat(request: Request):
        body = await request.json()
        seen.append(body["model"])
        if body.get("stream"):
            chunks = [f'data: {{"model": "{body["model"]}", "choices": [{{"delta": {{"content": "{word}"}}}}]}}\n\n'
                      for word in ("Par", "is")] + ["data: [DONE]\n\n"]
            return StreamingResponse(iter(chunks), media_type="text/event-stream")
        return {"model": body["model"], "choices": [{"message": {"content": "Paris"}}]}
    chat.__annotations__["request"] = Request  # this module's annotations are strings (PEP 563)
    upstream.post("/v1/chat/completions")(chat)
    upstream.get("/health")(lambda: {"status": "ok"})
    with serving.InProcessServer(upstream, port := serving.free_port()):
        client = TestClient(serving.gateway_app(f"http://127.0.0.1:{port}", upstream_model="/tmp/smollm2-bf16"))
        body = {"model": serving.SMOLLM, "messages": [{"role": "user", "content": "Capital of France?"}], "max_tokens": 4}
        answer = client.post("/v1/chat/completions", json=body)
        assert answer.status_code == 200 and answer.json()["model"] == serving.SMOLLM
        streamed = client.post("/v1/chat/completions", json={**body, "stream": True}).text
    assert seen == ["/tmp/smollm2-bf16"] * 2
    assert streamed.count(f'"model": "{serving.SMOLLM}"') == 2 and "/tmp/smollm2-bf16" not in streamed
    assert "data: [DONE]" in streamed


def test_memory_watch_adds_the_servers_memory_to_its_own():
    own = serving.proportional_mb()
    assert 0 < own <= serving.resident_mb() + 1
    port = serving.free_port()
    server = serving.Server(_http_server(port), f"http://127.0.0.1:{port}/", timeout_s=60)
    watch = serving.MemoryWatch(server, interval=0.05).start()
    with server:
        time.sleep(0.3)
        child = serving.proportional_mb(server.process.pid)
        assert watch.total_mb() == pytest.approx(serving.proportional_mb() + child, rel=0.1)
    assert watch.stop() > own and child > 1


def test_torch_encode_gives_sentence_transformers_vectors():
    """The chapter's PyTorch reference row stands for sentence-transformers: the same vectors."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from huggingface_hub import snapshot_download
    from transformers import AutoModel, AutoTokenizer

    try:
        revision = kit.require(serving.MINILM)[0].revision
    except FieldGuideError:
        pytest.skip("MiniLM is not installed")
    folder = snapshot_download(serving.MINILM, revision=revision)
    texts = ["a small speech recogniser", "embeddings for retrieval with a commercial licence", "hi"]
    ours = serving.torch_encode(AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder), texts)
    theirs = sentence_transformers.SentenceTransformer(folder).encode(texts, normalize_embeddings=True)
    assert (ours * theirs).sum(1).min() > 0.9999
