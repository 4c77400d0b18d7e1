# lanewatch — the two commands: `make demo` and `make test`. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# OS packages: command or file that proves presence -> Debian package
OS_NEEDS := /usr/sbin/mosquitto:mosquitto /usr/bin/mosquitto_passwd:mosquitto \
            /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc:fonts-noto-cjk \
            /usr/bin/chromium:chromium /usr/bin/systemd-analyze:systemd /usr/bin/openssl:openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench setup os-packages lint clean

demo: setup
	$(PY) -m lanewatch.demo

# Three worker processes (pytest-xdist) on two cores, a test file each: the long simulated-world tests keep a core
# busy each while the broker and process tests mostly wait on sockets (11 min 48 s against 13 min 41 s with two
# workers, one fresh clone each); a file's module fixtures stay in its worker. `--no-loadscope-reorder` keeps the
# files marked `long` first (tests/conftest.py): xdist otherwise orders files by their number of tests, and the
# long ones started mid-run, where seed 11's vision test, sharing the cores with more files, ran past its timeout.
test: lint
	$(PY) -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder

bench: setup
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check lanewatch edge central sim tests bench models docs

setup: os-packages $(STAMP)

# Installs only what is missing; `apt-get update` runs once, and only when something is.
os-packages:
	@missing=""; for need in $(OS_NEEDS); do \
	  [ -e "$${need%%:*}" ] || missing="$$missing $${need##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing OS packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-deps -r requirements.lock -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check | grep -v "rapidocr-onnxruntime 1.4.4 requires opencv-python" | grep -v "^No broken" || true
	touch $@

clean:
	rm -rf $(VENV) var
