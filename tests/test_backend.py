"""The backend module: TensorFlow's start-up notices filtered at the file-descriptor level."""

from __future__ import annotations

import os

from sweeplab import backend

NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795481314.725628   13318 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1795482638.483377   16437 cpu_feature_guard.cc:227] This TensorFlow binary\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild.\n"
)
REAL = "E0000 00:00:1795482638.5 16437 cuda_dnn.cc:12] a real error\nTraceback: kept\n"


def test_startup_notices_are_dropped_and_other_lines_kept(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    with backend._startup_noise_filtered():
        os.write(2, (NOISE + REAL).encode())
    err = capfd.readouterr().err
    assert err == REAL


def test_nothing_is_held_back_when_logs_are_asked_for(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with backend._startup_noise_filtered():
        os.write(2, NOISE.encode())
    assert capfd.readouterr().err == NOISE


def test_lines_written_before_an_exception_still_come_out(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with backend._startup_noise_filtered():
            os.write(2, b"native library failed to load\n")
            raise ImportError("boom")
    except ImportError:
        pass
    assert capfd.readouterr().err == "native library failed to load\n"
