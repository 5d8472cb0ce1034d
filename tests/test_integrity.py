import os

from benchmark.integrity import is_intact, remove_corrupted, sidecar
from benchmark.io import write_json, write_text


def test_untouched_files_are_intact(tmp_path):
    write_json({"a": 1}, tmp_path / "x.json")
    assert sidecar(tmp_path / "x.json").exists() and is_intact(tmp_path / "x.json")
    assert remove_corrupted(tmp_path) == []


def test_truncated_file_is_removed(tmp_path):
    path = tmp_path / "deep" / "scores.tsv"
    write_text("a\tb\n1\t2\n", path)
    path.write_text("a\tb\n")
    assert remove_corrupted(tmp_path) == [path] and not path.exists() and not sidecar(path).exists()


def test_same_size_change_is_caught_by_the_checksum(tmp_path):
    path = tmp_path / "x.txt"
    write_text("abcdef", path)
    stat = path.stat()
    path.write_text("abcdeX")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert not is_intact(path)


def test_touched_but_unchanged_file_is_kept(tmp_path):
    path = tmp_path / "x.txt"
    write_text("abc", path)
    os.utime(path, ns=(1, 1))
    assert is_intact(path) and remove_corrupted(tmp_path) == []
