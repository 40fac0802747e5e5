"""Loopback fakes that speak each vendor's real wire protocol on 127.0.0.1, so the real SDKs can
be pointed at them (see /work/shared/PROTOCOLS.md section 7)."""
