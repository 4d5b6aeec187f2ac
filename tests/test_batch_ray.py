"""``deblurcore batch --ray`` on a local Ray instance (``ray.init(num_cpus=2)``): the same
outputs as ``deblurcore deblur``, a corrupt input recorded as failed, a re-run that skips
what is done. Skipped where ray is not installed (``pip install "deblurcore[ray]"``)."""

from __future__ import annotations

import os

import pytest

from deblurcore import batch, cli
from tests.helpers import batch_corpus as bc

ray = pytest.importorskip("ray")
pytest.importorskip("av")


@pytest.fixture(scope="module")
def local_ray():
    # Workers must import the deblurcore this test imports (a development build may be on
    # PYTHONPATH rather than installed).
    import deblurcore

    package_parent = os.path.dirname(os.path.dirname(deblurcore.__file__))
    path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield
    ray.shutdown()


def test_ray_batch_matches_deblur_and_records_failures(local_ray, tmp_path, capsys):
    root = tmp_path / "corpus"
    inputs = bc.make_corpus(root)
    broken = root / "broken.mp4"
    broken.write_bytes(os.urandom(2000))
    weights = bc.write_weights(tmp_path / "stfan.safetensors")
    out = tmp_path / "out"
    argv = ["batch", root, "-o", out, "-w", weights, "--threads", bc.THREADS, *bc.CODEC, "--ray"]
    assert cli.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "4 done" in err and "1 failed" in err

    last = batch.read_records(out / batch.MANIFEST_NAME)
    assert last[str(broken)]["status"] == "failed" and last[str(broken)]["error"]
    refs = tmp_path / "refs"
    refs.mkdir()
    for i, inp in enumerate(inputs):
        record = last[str(inp)]
        assert record["status"] == "done" and record["frames"] == bc.FRAMES
        want = bc.deblur_reference(inp, refs / f"{i}{inp.suffix}", weights)
        bc.assert_same_output(out / inp.relative_to(root), want)
    assert bc.leftovers(out) == []

    # The re-run retries the corrupt input only (the Ray instance started above is reused).
    assert cli.main([str(a) for a in argv + ["-q"]]) == 1
    lines = bc.manifest_lines(out)
    assert len(lines) == len(inputs) + 2
    assert [r["input"] for r in lines[-1:]] == [str(broken)]
