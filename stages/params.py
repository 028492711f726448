"""Stage params: check all of params.yaml (types, ranges and what the domain accepts) before any other
stage runs, so a bad value fails before DVC deletes a single output. Every stage runs after this one
(ingest depends on its stamp); the stamp never changes, so a valid edit reruns only what it touches."""

from pathlib import Path

from stockcast.errors import exit_on_error
from stockcast.params_check import check_file

STAMP = Path("data/params.checked")


def main() -> None:
    sections = check_file("params.yaml")
    STAMP.parent.mkdir(exist_ok=True)  # data/, in the folder dvc runs the stage in
    STAMP.write_text("params.yaml passed stockcast's checks\n")
    print(f"params: {len(sections)} sections valid")


if __name__ == "__main__":
    exit_on_error(main)
