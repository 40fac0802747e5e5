# Two entry points for a fresh machine: `make demo` and `make test`. Both set everything up first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS := dev,local,piper,audio
# Debian packages: espeak-ng is the local TTS fallback and the test caller's voice;
# libportaudio2 lets sounddevice import (listen-in and the operator microphone);
# redis-server: the tests start real Redis servers for the fleet (console/fleet).
APT_PACKAGES := espeak-ng libportaudio2 redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system demo test serve lint bench clean

setup: system $(STAMP)

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/voiceconsole demo

# Three workers on two cores: most tests wait on real-time audio (the suite keeps the CPU about a
# third busy at -n 2), so a third worker fills the waits. Four made slow-machine races show up.
# Work-stealing: most tests are seconds of real-time audio and a few are a minute, so a worker
# that runs dry takes tests from the others' queues (5:23 -> 4:07 on this machine, same tests).
# Tests that measure real-time gaps run afterwards on their own, with both cores free.
test: setup
	$(PY) -m pytest -q -n 3 --dist worksteal -m "not timing and not alone"
	$(PY) -m pytest -q -m "timing or alone"

serve: setup
	$(VENV)/bin/voiceconsole serve

lint: setup
	$(VENV)/bin/ruff check console tests bench
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV)
