import sys

from typer.testing import CliRunner

from stockcast.cli import app

from .conftest import ROOT

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "check-params" in result.output and "tensorboard" in result.output


def test_check_params_accepts_the_repository_params():
    result = runner.invoke(app, ["check-params", str(ROOT / "params.yaml")])
    assert result.exit_code == 0 and "hidden_size" in result.output


def test_check_params_reports_a_bad_key_in_one_line(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train:\n  hiden_size: 3\n")
    result = runner.invoke(app, ["check-params", str(bad)])
    assert result.exit_code == 2
    assert "did you mean 'hidden_size'" in result.output and "Traceback" not in result.output


def test_tensorboard_serves_the_logs_on_loopback_only(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("stockcast.cli.subprocess.run", lambda cmd, check: calls.append(cmd))
    result = runner.invoke(app, ["tensorboard", "--logdir", str(tmp_path), "--port", "6123"])
    assert result.exit_code == 0
    assert calls == [[sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path), "--host", "127.0.0.1",
                      "--port", "6123"]]


def test_tensorboard_without_logs_says_to_run_the_pipeline(tmp_path):
    result = runner.invoke(app, ["tensorboard", "--logdir", str(tmp_path / "none")])
    assert result.exit_code == 2 and "run `dvc repro` first" in result.output
