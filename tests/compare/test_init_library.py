"""`init` gives a new user the default probe library next to the replay starter, and the
project it writes validates as it is."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from drift_monitor.cli import main
from drift_monitor.probes import default_library_dir, load_library


def test_init_copies_the_default_library_and_the_project_validates(tmp_path: Path,
                                                                   clean_env: object) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path / "proj")])
    assert result.exit_code == 0, result.output
    probes = tmp_path / "proj" / "probes"
    for name in ("formatting-contracts", "instruction-following", "support-tone",
                 "reference-answers", "gpt35-coding"):
        assert (probes / f"{name}.yaml").exists(), name
    library = load_library(probes)
    assert {"formatting-contracts", "gpt35-primes"} <= set(library.suites)
    result = runner.invoke(main, ["--config", str(tmp_path / "proj" / "drift-monitor.yaml"),
                                  "validate"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_default_library_is_found_in_a_checkout() -> None:
    assert (default_library_dir() / "support-tone.yaml").exists()
