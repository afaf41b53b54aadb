"""How `verify` expands its arguments (app.cli.paths), on real folders."""

from __future__ import annotations

from pathlib import Path

from app.cli.paths import InputFile, InputProblem, InputWalker


def _tree(root: Path, *files: str) -> None:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")


def _names(items, root: Path) -> list[str]:
    return [str(item.path.relative_to(root)) for item in items]


def test_folders_are_walked_depth_first_in_sorted_name_order(tmp_path):
    _tree(tmp_path, "B.jpg", "a/b.jpg", "a/z/deep.jpg", "a-c.jpg")

    items = list(InputWalker(paths=[tmp_path], recursive=True))

    assert all(isinstance(item, InputFile) for item in items)
    assert _names(items, tmp_path) == ["B.jpg", "a/b.jpg", "a/z/deep.jpg", "a-c.jpg"]


def test_without_recursion_only_direct_files_and_the_skipped_subfolders_are_counted(tmp_path):
    _tree(tmp_path, "top.jpg", "one/x.jpg", "two/y.jpg")
    walker = InputWalker(paths=[tmp_path], recursive=False)

    assert _names(walker, tmp_path) == ["top.jpg"]
    assert walker.skipped_folders == 2


def test_arguments_keep_their_order_and_a_folder_named_twice_is_listed_twice(tmp_path):
    _tree(tmp_path, "f/1.jpg", "f/sub/2.jpg", "z.jpg")

    items = list(InputWalker(paths=[tmp_path / "z.jpg", tmp_path / "f", tmp_path / "f"], recursive=True))

    assert _names(items, tmp_path) == ["z.jpg", "f/1.jpg", "f/sub/2.jpg", "f/1.jpg", "f/sub/2.jpg"]


def test_a_missing_argument_is_a_problem_and_the_walk_goes_on(tmp_path):
    _tree(tmp_path, "ok.jpg")

    items = list(InputWalker(paths=[tmp_path / "gone", tmp_path / "ok.jpg"], recursive=False))

    assert isinstance(items[0], InputProblem) and items[0].reason == "No such file or directory"
    assert items[1] == InputFile(path=tmp_path / "ok.jpg")
