"""``deblurcore batch`` with local worker processes: outputs identical to ``deblurcore
deblur``, the manifest, skipping and retrying on a re-run, a corrupt input, a run killed and
resumed, and how INPUTS become jobs and output names. The model is STFAN with random
weights on 64×64 frames (tests/helpers/batch_corpus.py)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deblurcore import batch, cli
from tests.helpers import batch_corpus as bc

pytest.importorskip("av")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(corpus folder, weights, {input name: reference output of deblurcore deblur})."""
    root = tmp_path_factory.mktemp("batch")
    inputs = bc.make_corpus(root / "corpus")
    weights = bc.write_weights(root / "stfan.safetensors")
    refs = root / "refs"
    refs.mkdir()
    references = {}
    for i, inp in enumerate(inputs):
        name = inp.relative_to(root / "corpus")
        references[str(name)] = bc.deblur_reference(inp, refs / f"{i}{inp.suffix}", weights)
    return root / "corpus", weights, references


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def batch_argv(inputs, out, weights, *more):
    return [
        "batch",
        *inputs,
        "-o",
        out,
        "-w",
        weights,
        "--threads",
        bc.THREADS,
        *bc.CODEC,
        "-q",
        *more,
    ]


def test_outputs_match_deblur_and_rerun_skips(corpus, tmp_path):
    root, weights, references = corpus
    out = tmp_path / "out"
    assert run(*batch_argv([root], out, weights, "--workers", 2)) == 0
    for name, want in references.items():
        bc.assert_same_output(out / name, want)
    records = bc.manifest_lines(out)
    assert sorted(r["output"] for r in records) == sorted(str(out / n) for n in references)
    weights_hash = "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    for r in records:
        assert r["status"] == "done" and r["error"] is None
        assert r["frames"] == bc.FRAMES and r["seconds"] > 0
        assert r["weights_hash"] == weights_hash
        assert r["content_hash"] == batch.content_hash(r["input"], r["kind"])
    assert {r["kind"] for r in records} == {"video", "folder"}
    assert bc.leftovers(out) == []

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert run(*batch_argv([root], out, weights, "--workers", 2)) == 0
    assert len(bc.manifest_lines(out)) == len(records)  # nothing ran again
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps


def test_corrupt_input_is_recorded_and_retried(corpus, tmp_path, capsys):
    root, weights, references = corpus
    broken = tmp_path / "in" / "broken.mp4"
    broken.parent.mkdir()
    broken.write_bytes(os.urandom(3000))
    good = root / "a.mkv"
    out = tmp_path / "out"
    assert run(*batch_argv([good, broken], out, weights, "--workers", 2)) == 1
    err = capsys.readouterr().err
    assert "failed:" in err and "broken.mp4" in err
    last = batch.read_records(out / batch.MANIFEST_NAME)
    assert last[str(broken)]["status"] == "failed"
    assert "broken.mp4" in last[str(broken)]["error"]
    assert last[str(good)]["status"] == "done"
    bc.assert_same_output(Path(last[str(good)]["output"]), references["a.mkv"])
    assert not Path(last[str(broken)]["output"]).exists()

    # A re-run retries the failed input only.
    assert run(*batch_argv([good, broken], out, weights)) == 1
    lines = bc.manifest_lines(out)
    assert [r["input"] for r in lines].count(str(broken)) == 2
    assert [r["input"] for r in lines].count(str(good)) == 1


def test_killed_run_resumes_without_duplicates(corpus, tmp_path):
    root, weights, references = corpus
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "deblurcore"] + [
        str(a) for a in batch_argv([root], out, weights, "--workers", 1)
    ]
    proc = subprocess.Popen(argv, start_new_session=True, stderr=subprocess.DEVNULL)
    manifest = out / batch.MANIFEST_NAME
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.exists() and '"done"' in manifest.read_text():
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the batch ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-run
        proc.wait()
    first = [r["input"] for r in bc.manifest_lines(out) if r["status"] == "done"]
    assert 1 <= len(first) < len(references)

    assert run(*batch_argv([root], out, weights)) == 0
    records = bc.manifest_lines(out)
    done = [r["input"] for r in records if r["status"] == "done"]
    assert sorted(done) == sorted(set(done))  # each input done once: the first ones skipped
    assert set(first) <= set(done) and len(done) == len(references)
    for name, want in references.items():
        bc.assert_same_output(out / name, want)
    assert bc.leftovers(out) == []
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    want = sorted(
        str(Path(n) / f.name) if w.is_dir() else n
        for n, w in references.items()
        for f in (sorted(w.iterdir()) if w.is_dir() else [w])
    )
    assert files == sorted(want + [batch.MANIFEST_NAME])


def test_ctrl_c_stops_workers_and_leaves_no_partial_output(corpus, tmp_path):
    root, weights, references = corpus
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "deblurcore"] + [
        str(a) for a in batch_argv([root], out, weights, "--workers", 2)
    ]
    proc = subprocess.Popen(argv, start_new_session=True, stderr=subprocess.PIPE, text=True)
    manifest = out / batch.MANIFEST_NAME
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and '"done"' in manifest.read_text():
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command to resume" in err
    assert bc.leftovers(out) == []
    for r in bc.manifest_lines(out):  # what is recorded done is there and complete
        want = references[str(Path(r["input"]).relative_to(root))]
        bc.assert_same_output(Path(r["output"]), want)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers in /proc")
def test_dead_worker_is_replaced_and_its_input_retried(corpus, tmp_path):
    root, weights, references = corpus
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "deblurcore"] + [
        str(a) for a in batch_argv([root], out, weights, "--workers", 1)
    ]
    proc = subprocess.Popen(argv, start_new_session=True, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        for pid in _children(proc.pid):  # the worker, with the first input in hand
            os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    records = bc.manifest_lines(out)
    assert [r["status"] for r in records] == ["done"] * len(references)
    for name, want in references.items():
        bc.assert_same_output(out / name, want)


def test_dry_run_lists_and_writes_nothing(corpus, tmp_path, capsys):
    root, weights, references = corpus
    out = tmp_path / "out"
    assert run(*batch_argv([root], out, weights, "--dry-run")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(references)
    assert all(line.startswith("run ") and "(new)" in line for line in lines)
    assert not out.exists()


def test_plan_skips_unchanged_and_reruns_changed(tmp_path):
    clip = tmp_path / "in" / "c.png"
    clip.parent.mkdir()
    clip.write_bytes(b"first")
    out = tmp_path / "out"
    (job,) = batch.expand_inputs([str(clip)], str(out))
    settings = batch.Settings(weights="w", weights_hash="sha256:1")
    Path(job.output).parent.mkdir(parents=True)
    Path(job.output).write_bytes(b"x")
    record = {
        "input": job.input,
        "output": job.output,
        "status": "done",
        "weights_hash": "sha256:1",
        "settings": {"options": []},
        "signature": batch.signature(job.input, job.kind),
        "content_hash": batch.content_hash(job.input, job.kind),
    }

    def action(rec, **kw):
        s = batch.Settings(**{"weights": "w", "weights_hash": "sha256:1", **kw})
        (p,) = batch.plan([job], {job.input: rec} if rec else {}, s, redo=False)
        return p.action, p.reason

    assert action(None) == ("run", "new")
    assert action(record) == ("skip", "done")
    assert action({**record, "status": "failed", "error": "bad"}) == (
        "run",
        "retry, failed before: bad",
    )
    assert action(record, weights_hash="sha256:2") == ("run", "other weights")
    assert action(record, options=("--codec", "ffv1")) == ("run", "other options")
    os.utime(clip, ns=(1, 1))  # touched, same content: still done
    assert action(record) == ("skip", "done")
    clip.write_bytes(b"second")
    assert action(record) == ("run", "input changed")
    os.unlink(job.output)
    assert action(record) == ("run", "output missing")
    assert batch.plan([job], {job.input: record}, settings, redo=True)[0].reason == "redo"


def test_inputs_lists_corpus_and_output_names(tmp_path):
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2" / "deep" / "seq").mkdir(parents=True)
    for p in ["d1/clip.mp4", "d2/clip.mp4", "d2/old.flv", "d2/notes.txt", "d2/deep/seq/0.png"]:
        (tmp_path / p).write_bytes(b"")
    (tmp_path / "d2" / ".hidden.mp4").write_bytes(b"")
    out = tmp_path / "out"
    (out / "x.mp4").parent.mkdir()
    (out / "x.mp4").write_bytes(b"")  # OUT_DIR is never searched

    jobs = batch.expand_inputs([str(tmp_path)], str(out))
    got = {str(Path(j.input).relative_to(tmp_path)): (j.kind, j.output) for j in jobs}
    assert got == {
        "d1/clip.mp4": ("video", str(out / "d1/clip.mp4")),
        "d2/clip.mp4": ("video", str(out / "d2/clip.mp4")),
        "d2/old.flv": ("video", str(out / "d2/old.flv.mp4")),
        "d2/deep/seq": ("folder", str(out / "d2/deep/seq")),
    }
    # A list file (relative to its folder, comments, the same input twice) and a CSV.
    (tmp_path / "list.txt").write_text("# clips\nd1/clip.mp4\n\n d2/clip.mp4 \nd1/clip.mp4\n")
    (tmp_path / "list.csv").write_text("id,path\n1,d2/deep/seq\n2,d1/clip.mp4\n")
    jobs = batch.expand_inputs([str(tmp_path / "list.txt"), str(tmp_path / "list.csv")], str(out))
    assert [Path(j.output).relative_to(out).as_posix() for j in jobs] == [
        "d1/clip.mp4",
        "d2/clip.mp4",
        "d2/deep/seq",
    ]
    with pytest.raises(batch.InputError, match="no such file"):
        batch.expand_inputs([str(tmp_path / "missing.mp4")], str(out))
    with pytest.raises(batch.InputError, match="inside OUT_DIR"):
        batch.expand_inputs([str(out / "x.mp4")], str(out))


def test_manifest_survives_a_cut_line_and_is_locked(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    path = out / batch.MANIFEST_NAME
    path.write_text('{"input": "a", "status": "done"}\n{"input": "b", "sta')
    assert list(batch.read_records(path)) == ["a"]
    from deblurcore.batch.manifest import ManifestWriter

    with ManifestWriter(out) as writer:
        writer.append({"input": "b", "status": "failed"})
        with pytest.raises(batch.ManifestLocked):
            ManifestWriter(out)
    assert batch.read_records(path)["b"]["status"] == "failed"


def test_usage_errors(corpus, tmp_path, capsys):
    root, weights, _ = corpus
    assert run("batch", tmp_path / "nothing", "-o", tmp_path / "o", "-w", weights) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run("batch", tmp_path / "empty", "-o", tmp_path / "o", "-w", weights) == 2
    assert "no videos" in capsys.readouterr().err
    assert run("batch", root, "-o", tmp_path / "o", "-w", weights, "-m", "ifan") == 2
    assert "does not match" in capsys.readouterr().err


def test_bad_encoder_options_are_refused_before_anything_runs(corpus, tmp_path, capsys):
    root, weights, _ = corpus
    out = tmp_path / "o"
    base = ("batch", root, "-o", out, "-w", weights, "--codec", "libx264")
    assert run(*base, "--crf", "60") == 2
    assert "--crf 60: libx264 takes 0 to 51" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # the range every encoder has: argparse's own check
        run(*base, "--crf", "99")
    assert refused.value.code == 2
    assert "--crf" in capsys.readouterr().err
    assert not out.exists()  # no manifest, no failed record per input
